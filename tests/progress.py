"""A pytest plugin for `tests/run-suites`: while a suite runs with its report going to a file,
say how far it is on the terminal (file descriptor JORNADA_PROGRESS_FD), a line every tenth of
the tests or every 20 seconds, prefixed with the suite's name."""

from __future__ import annotations

import os
import time

import pytest

_FD = os.environ.get("JORNADA_PROGRESS_FD")
_NAME = os.environ.get("JORNADA_TEST_DATABASE") or "sqlite"


class Progress:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.total = 0
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()
        self.last_said = self.started
        self.next_share = 0.1

    def say(self, text: str) -> None:
        os.write(self.fd, f"[{_NAME}] {text}\n".encode())

    @pytest.hookimpl
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if session.items or not session.config.pluginmanager.has_plugin("dsession"):
            self.total = len(session.items)
            self.say(f"{self.total} tests collected")

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: list[str]) -> None:
        """With pytest-xdist the workers collect: the first to finish gives the count."""
        if not self.total:
            self.total = len(ids)
            self.say(f"{self.total} tests collected")

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self.failed += 1
            self.say(f"FAILED {report.nodeid} ({report.when})")
        if report.when != "teardown":
            return
        self.done += 1
        now = time.monotonic()
        share = self.done / self.total if self.total else 1.0
        if share >= self.next_share or now - self.last_said >= 20 or self.done == self.total:
            while self.next_share <= share:
                self.next_share += 0.1
            self.last_said = now
            self.say(f"{self.done}/{self.total} tests ({share:.0%}), {self.failed} failed, {now - self.started:.0f} s")


def pytest_configure(config: pytest.Config) -> None:
    # Under pytest-xdist only the controller reports: the workers do not hold the descriptor.
    if _FD is not None and not hasattr(config, "workerinput"):
        config.pluginmanager.register(Progress(int(_FD)), "jornada-progress")
