"""`UserError`, and the conversion of service problems into it."""

from __future__ import annotations

from collections.abc import Iterable

import strawberry
from graphql import GraphQLError

from api.errors import InputInvalid, Problem


@strawberry.type(description="An expected failure of a mutation: what was wrong, and where.")
class UserError:
    field: list[str] | None = strawberry.field(
        description="Path to the input field at fault, relative to `input` (e.g. "
        '["interactions", "3", "kind"]); null when the error is not about one field.'
    )
    code: str = strawberry.field(description="A stable, machine-readable code, e.g. INVALID_EMAIL.")
    message: str = strawberry.field(description="A human-readable explanation.")


def user_errors(problems: Iterable[Problem]) -> list[UserError]:
    return [UserError(field=list(p.field) if p.field else None, code=p.code, message=p.message) for p in problems]


def bad_input(exc: InputInvalid) -> GraphQLError:
    """For queries, which have no payload: the problem as a top-level error with its field."""
    first = exc.problems[0]
    return GraphQLError(
        str(exc),
        extensions={"code": "BAD_USER_INPUT", "reason": first.code, "field": list(first.field or ())},
    )
