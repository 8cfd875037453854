"""Expected failures: they become typed `userErrors`, never exceptions in the response."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where (`field` path), what (`code`), and in words."""

    field: tuple[str, ...] | None
    code: str
    message: str

    def at(self, *prefix: str) -> Problem:
        """The same problem, nested under `prefix` (e.g. the index of a batch item)."""
        return Problem((*prefix, *(self.field or ())), self.code, self.message)


@dataclass
class InputInvalid(Exception):
    """Raised by services when input fails validation; nothing has been written."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(p.message for p in self.problems)


def invalid(field_path: tuple[str, ...] | None, code: str, message: str) -> InputInvalid:
    return InputInvalid([Problem(field_path, code, message)])
