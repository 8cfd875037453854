"""Expected failures: they become typed `userErrors`, never exceptions in the response."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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


def error_body(message: str, code: str) -> dict[str, Any]:
    """A GraphQL response carrying one error and no data: the body of every 4xx answer that no
    GraphQL execution produced (authentication, limits, malformed requests, CORS)."""
    return {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}
