"""Jornada's PostgreSQL sessions: no JIT, and the sort memory of JORNADA_PG_WORK_MEM (the metrics
sort and hash a workspace's rows; the server's default spills them to disk)."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from api.db import Params, connection, fetch
from api.settings import Settings, tortoise_config
from tests.conftest import on_postgres

pytestmark = pytest.mark.asyncio


async def test_sessions_run_without_jit_and_with_the_configured_work_mem(app: Starlette) -> None:
    credentials = tortoise_config("postgres://u@db:5432/j", "96MB")["connections"]["default"]["credentials"]
    assert credentials["server_settings"] == {"jit": "off", "work_mem": "96MB"}
    assert Settings.from_env({}).pg_work_mem == "64MB"
    with pytest.raises(ValueError, match="JORNADA_PG_WORK_MEM"):
        Settings.from_env({"JORNADA_PG_WORK_MEM": "lots"})
    if on_postgres():  # the app's own connections say so
        p = Params("postgres")
        found = await fetch("SELECT current_setting('jit') AS jit, current_setting('work_mem') AS mem", p, connection())
        assert (found[0]["jit"], found[0]["mem"]) == ("off", "64MB")
