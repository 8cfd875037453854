"""The body limit and the body timeout against a real uvicorn, with the clients of the hostile
trial (issue 10, items 8 and 9): urllib, which writes the whole body before reading the answer,
and a raw socket trickling a body one byte at a time."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.servers import create_workspace_with_cli, running_server

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]

MIB = 1024 * 1024


def post_with_urllib(url: str, size: int) -> int:
    request = urllib.request.Request(
        url + "/graphql", data=b"x" * size, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


async def test_every_client_that_sends_the_whole_body_first_reads_the_413(
    e2e_database_url: str, tmp_path: Path
) -> None:
    """It used to answer and close without reading the body: urllib got a reset or a broken pipe
    instead of the 413 on 10 of 20 requests at 1 MiB + 100 B and 20 of 20 at 8 MiB."""
    with running_server(e2e_database_url, tmp_path) as server:
        for size in (MIB + 100, 8 * MIB):
            statuses = [await asyncio.to_thread(post_with_urllib, server, size) for _ in range(20)]
            assert statuses == [413] * 20, (size, statuses)


async def test_a_body_trickled_byte_by_byte_is_cut_off_with_408(e2e_database_url: str, tmp_path: Path) -> None:
    """A body trickled at one byte every 1.2 s held a connection for ever."""
    with running_server(e2e_database_url, tmp_path, extra_env={"JORNADA_BODY_TIMEOUT": "2"}) as server:
        key = (await create_workspace_with_cli(e2e_database_url, tmp_path))["apiKey"]
        host = urlsplit(server)
        reader, writer = await asyncio.open_connection(host.hostname, host.port)
        head = (
            f"POST /graphql HTTP/1.1\r\nHost: {host.netloc}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {key}\r\nContent-Length: 100\r\n\r\n"
        )
        writer.write(head.encode())
        started = time.monotonic()

        async def trickle() -> None:
            for _ in range(100):
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.5)

        sending = asyncio.create_task(trickle())
        try:
            status = await asyncio.wait_for(reader.readline(), timeout=10)
        finally:
            sending.cancel()
            writer.close()
        assert status.startswith(b"HTTP/1.1 408"), status
        assert 1.5 < time.monotonic() - started < 5
