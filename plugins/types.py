"""Frozen data that plugins return to the host. Plugins never do I/O through these."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InteractionKind:
    """A kind of interaction that customers can have, as a plugin declares it.

    `key` is what clients send as `kind` (lower snake case). A kind with a score scale
    (`score_min`/`score_max`) accepts a score in that closed range and, when `score_required`,
    refuses an interaction without one; a kind without a scale refuses any score.
    `amount_required` makes `amount` mandatory (purchases, renewals, refunds).
    """

    key: str
    name: str
    description: str
    score_min: int | None = None
    score_max: int | None = None
    score_required: bool = False
    amount_required: bool = False

    @property
    def has_score(self) -> bool:
        return self.score_min is not None and self.score_max is not None
