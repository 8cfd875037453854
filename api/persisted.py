"""Apollo's automatic persisted queries: a client sends the SHA-256 of its document instead of the
document; the first time, this worker does not know it and answers PERSISTED_QUERY_NOT_FOUND (a
GraphQL error in JSON, HTTP 200, as Apollo's clients expect), and the client sends the document
with its hash, which is checked and kept. Documents are kept per process, the most recently used
ones (`size`), under the same hash the compiled reads' plans are cached by.

    {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "<64 hex digits>"}}}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from schema.sql.plans import Lru, document_hash

HASH = re.compile(r"[0-9a-f]{64}")


class PersistedQueryError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Persisted:
    """A request's document, by its hash: the text and whether it is new to this process."""

    digest: str
    query: str
    new: bool


class PersistedQueries:
    def __init__(self, size: int = 10_000) -> None:
        self._documents: Lru[str, str] = Lru(size)

    def resolve(self, extensions: Any, query: str | None) -> Persisted | None:
        """The document a request names (None when it uses no persisted query)."""
        found = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        if found is None:
            return None
        if not isinstance(found, dict) or found.get("version") != 1:
            raise PersistedQueryError(
                "PERSISTED_QUERY_NOT_SUPPORTED", "Only version 1 of persisted queries is supported."
            )
        digest = found.get("sha256Hash")
        if not isinstance(digest, str) or not HASH.fullmatch(digest):
            raise PersistedQueryError("BAD_REQUEST", "persistedQuery.sha256Hash must be 64 lower-case hex digits.")
        if query is not None:
            if document_hash(query) != digest:
                raise PersistedQueryError(
                    "PERSISTED_QUERY_HASH_MISMATCH", "persistedQuery.sha256Hash is not the SHA-256 of the query."
                )
            return Persisted(digest, query, new=True)
        known, text = self._documents.get(digest)
        if not known or text is None:
            raise PersistedQueryError("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
        return Persisted(digest, text, new=False)

    def remember(self, persisted: Persisted) -> None:
        """Keep a document sent with its hash (once its request is authenticated)."""
        if persisted.new:
            self._documents.put(persisted.digest, persisted.query)
