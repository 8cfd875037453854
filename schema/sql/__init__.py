"""Compiled reads: a GraphQL query over the compilable part of the schema, answered by one SQL
statement whose result is the response's `data`, as JSON text built by the database.

- `mapping`: the declarative SQL mapping of each compilable type (declared beside the type, in
  `schema.customers`, `schema.interactions`...), and what a field may be mapped to.
- `dialects`: how PostgreSQL and SQLite build JSON, format scalars and encode ids and cursors.
- `sources`: the rows a list reads (filters, orderings and keyset pages), from the services.
- `compiler`: one operation and its variables → one statement, or why it cannot be compiled.
- `plans`: documents parsed, validated and planned once, keyed by their hash.
"""
