"""Cursors are built in SQL by compiled reads and in Python by the resolvers: a float sort key
(PREDICTED_CLV) must be written the same way by both, and read back as the same number, for
every float. (Decimal texts do not agree: PostgreSQL writes 4.7813917197202656e+16 where Python
writes 4.781391719720266e+16, a difference this test found; the 8 bytes' hex does.)"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.customers import sort_keys
from api.db import connection
from api.pagination import DESC, decode_cursor, encode_cursor, float_hex, float_of_hex
from tests.conftest import Api, on_postgres

pytestmark = pytest.mark.asyncio

FLOATS = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([-1.0, 0.0, 1e15, 4.781391719720266e16])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(FLOATS, min_size=1, max_size=20))
async def test_a_float_key_is_the_same_text_in_sql_and_python_and_reads_back(api: Api, values: list[float]) -> None:
    texts = [float_hex(v) for v in values]
    assert [float_of_hex(t) for t in texts] == values
    if on_postgres():  # on SQLite the statement calls float_hex itself, through cursor_text
        sql = "SELECT encode(float8send(x), 'hex') AS t FROM unnest($1::float8[]) AS u(x)"
        _, rows = await connection().execute_query(sql, [values])
        assert [r["t"] for r in rows] == texts


async def test_a_cursor_of_the_predicted_clv_ordering_reads_back_and_takes_an_older_one() -> None:
    keys = sort_keys([("PREDICTED_CLV", DESC)])

    class Row:
        rank = -1  # SQLite's COALESCE(predicted_clv, -1) of a customer without a prediction
        id = 7

    assert decode_cursor(keys, encode_cursor(keys, Row()), "after") == [-1.0, 7]
    older = "eyJvIjoicHJlZGljdGVkQ2x2OkRFU0MsaWQ6REVTQyIsImsiOlsxMi41LDddfQ"  # {"o":...,"k":[12.5,7]}
    assert decode_cursor(keys, older, "after") == [12.5, 7]
