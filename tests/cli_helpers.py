"""Running `jornada` as a user does (a real subprocess) and opening its database in-process."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from api.app import create_app
from api.settings import Settings

JORNADA = Path(sys.executable).with_name("jornada")


@dataclass(frozen=True)
class Run:
    status: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        """The single JSON object `--json` must print (one line, nothing else on stdout)."""
        lines = self.stdout.splitlines()
        assert len(lines) == 1, f"expected exactly one line of JSON, got: {self.stdout!r}"
        data = json.loads(lines[0])
        assert isinstance(data, dict), data
        return data


async def jornada(url: str, *args: str, cwd: Path) -> Run:
    """Run `jornada ARGS` with JORNADA_DATABASE_URL=url, as a user would in a shell."""
    env = {**os.environ, "JORNADA_DATABASE_URL": url}
    proc = await asyncio.create_subprocess_exec(
        str(JORNADA),
        *args,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


def ok(run: Run) -> Run:
    assert run.status == 0, f"exit status {run.status}\nstdout: {run.stdout}\nstderr: {run.stderr}"
    return run


@asynccontextmanager
async def served(url: str, **settings: Any) -> AsyncIterator[httpx2.AsyncClient]:
    """The app on the same database, in this process, with its lifespan (and the ORM) open."""
    app = create_app(Settings(database_url=url, **settings))
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client
