"""What a CSV import did: counts, bad lines with their line numbers, progress on a terminal."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from api.csv_source import MAX_KEPT_ERRORS
from api.lifecycle_admin import Rebuild


@dataclass(frozen=True)
class LineError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass
class Report:
    """What an import did: counts, bad lines (printed to `stream` as they come; the first
    MAX_KEPT_ERRORS kept when `keep_errors`), and a progress line when `stream` is a terminal."""

    stream: TextIO
    keep_errors: bool = False
    progress: bool | None = None
    rows: int = 0
    stored: int = 0
    already_present: int = 0
    failed: int = 0
    errors: list[LineError] = field(default_factory=list)
    errors_omitted: int = 0
    rebuilt: dict[str, Rebuild] = field(default_factory=dict)
    fatal: str | None = None
    # The file's size and how many of its bytes were read: the progress line's share and time left.
    size: int | None = None
    position: Callable[[], int] | None = None
    _started: float = field(default_factory=time.monotonic, init=False)
    _drawn: float = field(default=0.0, init=False)
    _width: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.progress is None:
            self.progress = self.stream.isatty()

    def begin(self, started: float | None = None) -> None:
        """Start the clock (`started`: a time.monotonic() reading, default now)."""
        self._started = time.monotonic() if started is None else started

    def note(self, text: str) -> None:
        """A line for the person at the terminal (nothing when stderr is not one)."""
        if self.progress:
            self.stream.write(f"  {text}\n")
            self.stream.flush()

    def bad(self, line: int, problems: Sequence[tuple[str, str]]) -> None:
        self.failed += 1
        self._clear()
        for column, message in problems:
            error = LineError(line, column, message)
            print(error, file=self.stream)
            if not self.keep_errors:
                continue
            if len(self.errors) < MAX_KEPT_ERRORS:
                self.errors.append(error)
            else:
                self.errors_omitted += 1
        self.stream.flush()

    def advance(self, rows: int, *, force: bool = False) -> None:
        self.rows += rows
        now = time.monotonic()
        if not self.progress or (not force and now - self._drawn < 0.1):
            return
        self._drawn = now
        elapsed = max(now - self._started, 1e-6)
        rate = self.rows / elapsed
        text = f"\r  {self.rows:,} rows  {rate:,.0f} rows/s"
        if self.size and self.position is not None:
            share = min(self.position() / self.size, 1.0)
            left = elapsed * (1 - share) / share if share > 0 else None
            text = f"\r  {share:.0%} of {_megabytes(self.size)}  {self.rows:,} rows  {rate:,.0f} rows/s"
            text += f"  {_duration(left)} left" if left is not None and share < 1 else ""
        self._width = max(self._width, len(text))
        self.stream.write(text.ljust(self._width))
        self.stream.flush()

    def follow(self, size: int | None, position: Callable[[], int] | None) -> None:
        """Show the share of a file of `size` bytes done, `position()` of them read."""
        self.size, self.position = size, position

    def finish(self) -> None:
        if self.progress:
            self.advance(0, force=True)
            self.stream.write("\n")
            self.stream.flush()

    def _clear(self) -> None:
        if self.progress and self._width:
            self.stream.write("\r" + " " * self._width + "\r")

    def summary(self) -> str:
        lines = [f"stored {self.stored}, already present {self.already_present}, failed {self.failed}"]
        for key, result in self.rebuilt.items():
            customers = sum(result.distribution.values())
            lines.append(f"rebuilt {key}: {customers} customers, {result.transitions_written} transitions")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "stored": self.stored,
            "alreadyPresent": self.already_present,
            "failed": self.failed,
            "rows": self.rows,
            "errors": [e.to_json() for e in self.errors],
        }
        if self.errors_omitted:
            data["errorsOmitted"] = self.errors_omitted
        if self.rebuilt:
            data["rebuilt"] = [
                {
                    "model": key,
                    "customers": sum(r.distribution.values()),
                    "transitions": r.transitions_written,
                    "stages": dict(sorted(r.distribution.items())),
                }
                for key, r in self.rebuilt.items()
            ]
        if self.fatal:
            data["fatal"] = self.fatal
        return data


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size / 1000:.0f} kB"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"
