"""The mark of a value a compiled statement cannot give (a customer not placed in a model yet,
a model argument the workspace does not track): a response holding it anywhere is answered by
Strawberry instead (a customer's own text holding it only costs that request the fast path)."""

FALLBACK_MARK = "jornada:not-compiled:8d1f2e"
