"""The Relay ids clients see, made where no GraphQL type is at hand (SQL templates, webhooks)."""

from __future__ import annotations

import base64


def global_id(type_name: str, raw: int) -> str:
    """The Relay id clients see for a row (Strawberry's encoding: base64 of "Type:id")."""
    return base64.b64encode(f"{type_name}:{raw}".encode()).decode()
