"""Row ids out of global ids' node parts, for every Node type."""

from __future__ import annotations

MAX_ROW_ID = 2**31 - 1  # the id columns' range (a 32-bit integer)


def row_id(node_id: str) -> int:
    """The row id a node part names; -1 (never a row) for anything else: "²" and "١" are digits
    to str.isdigit() but not to int(), and 20-digit numbers overflow the id columns."""
    if not (node_id.isascii() and node_id.isdigit()) or len(node_id) > 10:
        return -1
    value = int(node_id)
    return value if value <= MAX_ROW_ID else -1
