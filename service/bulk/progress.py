"""Progress of a bulk run: rows done, tokens per second and the time left.

On a terminal, one line redrawn in place (a bar when the total is known); otherwise (a log
file, a pipe, CI) a plain line every ``interval_s`` seconds, and one at the end.
"""

from __future__ import annotations

import time
from typing import TextIO

_BAR_WIDTH = 24
#: Redraws of the terminal line at most this often.
_REDRAW_S = 0.2


class Progress:
    """Counts rows and tokens and reports them; see the module docstring."""

    def __init__(
        self,
        stream: TextIO,
        *,
        mode: str,
        total_rows: int | None,
        interval_s: float = 10.0,
    ) -> None:
        """``mode``: bar, lines or none (``auto`` is resolved by :func:`resolve_mode`)."""
        self._stream = stream
        self._mode = mode
        self._total = total_rows
        self._interval = interval_s if mode == "lines" else _REDRAW_S
        self._started = time.monotonic()
        self._last = 0.0
        self.rows = 0
        self.skipped = 0
        self.tokens = 0

    def skip(self, rows: int) -> None:
        """Rows found done by an earlier run (counted, not in the speed)."""
        self.skipped += rows
        self._report()

    def add(self, rows: int, tokens: int) -> None:
        """Rows computed now, and the tokens they fed the model."""
        self.rows += rows
        self.tokens += tokens
        self._report()

    def close(self) -> None:
        """The final report."""
        self._report(final=True)
        if self._mode == "bar":
            self._stream.write("\n")
            self._stream.flush()

    def _report(self, final: bool = False) -> None:
        if self._mode == "none":
            return
        now = time.monotonic()
        if not final and now - self._last < self._interval:
            return
        self._last = now
        text = self.line(now - self._started)
        if self._mode == "bar":
            self._stream.write("\r" + text + " " * 4)
        else:
            self._stream.write(f"ember batch: {text}\n")
        self._stream.flush()

    def line(self, elapsed_s: float) -> str:
        """The report after ``elapsed_s`` seconds, as one line."""
        done = self.rows + self.skipped
        speed = self.tokens / elapsed_s if elapsed_s > 0 else 0.0
        row_speed = self.rows / elapsed_s if elapsed_s > 0 else 0.0
        parts = []
        if self._total:
            share = min(done / self._total, 1.0)
            if self._mode == "bar":
                filled = round(share * _BAR_WIDTH)
                parts.append("[" + "#" * filled + "." * (_BAR_WIDTH - filled) + "]")
            parts.append(f"{done:,}/{self._total:,} rows ({share:.1%})")
        else:
            parts.append(f"{done:,} rows")
        parts.append(f"{speed:,.0f} tok/s")
        if self._total and row_speed > 0:
            parts.append(f"ETA {_duration(max(self._total - done, 0) / row_speed)}")
        parts.append(f"elapsed {_duration(elapsed_s)}")
        return "  ".join(parts)


def resolve_mode(mode: str, stream: TextIO) -> str:
    """``auto``: a bar on a terminal, lines otherwise. ValueError for an unknown mode."""
    if mode not in ("auto", "bar", "lines", "none"):
        raise ValueError(f"--progress must be auto, bar, lines or none, got {mode!r}")
    if mode != "auto":
        return mode
    return "bar" if stream.isatty() else "lines"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
