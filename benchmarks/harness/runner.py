"""Sections against a soft deadline, results written after every one.

A plan is a list of named sections (a name, the seconds it needs at least, a function). The
:class:`Runner` runs them in order, each in its own try/except; skips one when the deadline
leaves too little time for it; and after every section writes the results folder through
:func:`benchmarks.harness.report.write`, so a timeout or a crash still leaves every number
measured so far. A watchdog thread writes the files and exits if the hard deadline
(deadline + grace) passes inside a section. Console output is copied to ``log.txt``.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from benchmarks.harness import machine, report


class DeadlineError(Exception):
    """Too little time is left for (the rest of) a section; the message says what was skipped."""


#: (name, minimum seconds it needs, what it runs)
Section = tuple[str, float, Callable[[], None]]


def log(message: str) -> None:
    """One timestamped line on stdout (and the log)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class _Tee:
    """Writes to the console and to the log file."""

    def __init__(self, stream: TextIO, log_file: TextIO) -> None:
        self._stream, self._log = stream, log_file

    def write(self, text: str) -> int:
        self._stream.write(text)
        with contextlib.suppress(ValueError):
            self._log.write(text)
            self._log.flush()
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._stream.fileno()


def tee_output(out: Path) -> None:
    """Copy stdout and stderr to ``out/log.txt`` from now on."""
    log_file = (out / "log.txt").open("a", encoding="utf-8")
    sys.stdout = _Tee(sys.stdout, log_file)
    sys.stderr = _Tee(sys.stderr, log_file)


def selected(name: str, only: str, skip: str, always: Sequence[str] = ()) -> bool:
    """Whether section ``name`` runs under ``--only`` / ``--skip`` (comma-separated names or
    prefixes); sections in ``always`` run regardless."""
    if name in always:
        return True
    wanted = [s for s in only.split(",") if s]
    skipped = [s for s in skip.split(",") if s]
    if any(name == s or name.startswith(s) for s in skipped):
        return False
    return not wanted or any(name == s or name.startswith(s) for s in wanted)


class Runner:
    """Runs sections against a global deadline and writes the results folder after each one.

    ``results`` is the run's JSON-able dict: the runner keeps ``results["sections"]`` (name,
    status ok/partial/failed/skipped/killed, seconds, note) and ``results["meta"]``'s elapsed
    time and load. ``after_section`` runs after each one (e.g. freeing GPU memory);
    ``on_abort`` runs before the watchdog exits (e.g. ending child processes)."""

    def __init__(
        self,
        out: Path,
        deadline_s: float,
        results: dict[str, Any],
        after_section: Callable[[], None] = lambda: None,
        on_abort: Callable[[], None] = lambda: None,
    ) -> None:
        self.out = out
        self.deadline_s = deadline_s
        self.results = results
        results.setdefault("sections", [])
        results.setdefault("meta", {})
        self.started = time.monotonic()
        self.current = ""
        self._after = after_section
        self._on_abort = on_abort
        self._lock = threading.Lock()

    def elapsed(self) -> float:
        """Seconds since the runner started."""
        return time.monotonic() - self.started

    def left(self) -> float:
        """Seconds left before the soft deadline."""
        return self.deadline_s - self.elapsed()

    def need(self, seconds: float, what: str) -> None:
        """Raise DeadlineError when less than ``seconds`` are left before the deadline."""
        if self.left() < seconds:
            raise DeadlineError(f"{what}: {self.left():.0f}s left before the deadline")

    def run_all(self, sections: Sequence[Section], only: str = "", skip: str = "") -> None:
        """Run the selected sections in order (the first one always runs)."""
        for index, (name, min_s, fn) in enumerate(sections):
            always = (name,) if index == 0 else ()
            if selected(name, only, skip, always):
                self.run(name, min_s, fn)

    def run(self, name: str, min_s: float, fn: Callable[[], None]) -> None:
        """Run one section (or record why not) and write the results."""
        entry: dict[str, Any] = {"name": name, "status": "running", "seconds": 0.0}
        self.results["sections"].append(entry)
        if self.left() < min_s:
            entry.update(
                status="skipped", note=f"deadline: {self.left():.0f}s left, needs {min_s}s"
            )
            log(f"SKIP {name}: {entry['note']}")
            self.write()
            return
        left = f" ({self.left():.0f}s left)" if math.isfinite(self.deadline_s) else ""
        log(f"== {name}{left}")
        self.current = name
        start = time.monotonic()
        try:
            fn()
            entry["status"] = "ok"
        except DeadlineError as exc:
            entry.update(status="partial", note=str(exc))
            log(f"PARTIAL {name}: {exc}")
        except Exception as exc:
            entry.update(status="failed", error=f"{type(exc).__name__}: {exc}"[:2000])
            log(f"FAILED {name}: {type(exc).__name__}: {exc}")
            traceback.print_exc(file=sys.stdout)
        finally:
            entry["seconds"] = round(time.monotonic() - start, 2)
            self.current = ""
            with contextlib.suppress(Exception):
                self._after()
            log(f"   {name}: {entry['status']} in {entry['seconds']}s")
            self.write()

    def write(self) -> None:
        """Write the results folder (retried if the watchdog thread moves the dict)."""
        with self._lock:
            for _ in range(5):
                try:
                    self.results["meta"]["elapsed_s"] = round(self.elapsed(), 1)
                    self.results["meta"]["load_after"] = machine.load_average()
                    snapshot = _copy(self.results)
                    break
                except RuntimeError:  # changed size during iteration
                    time.sleep(0.05)
            else:
                return
            try:
                report.write(self.out, snapshot)
            except Exception as exc:  # the numbers must survive a broken renderer
                report.atomic_write(self.out / "RESULTS.md", f"# report failed\n\n{exc!r}\n")

    def start_watchdog(self, grace_s: float) -> None:
        """Exit (after writing) if the hard deadline passes inside a section."""

        def watch() -> None:
            while self.elapsed() < self.deadline_s + grace_s:
                time.sleep(1.0)
            note = (
                f"hard deadline ({self.deadline_s + grace_s:.0f}s) passed inside {self.current!r}"
            )
            log(f"WATCHDOG: {note}; writing results and exiting")
            self.results["meta"]["aborted"] = note
            for entry in self.results["sections"]:
                if entry.get("status") == "running":
                    entry.update(status="killed", note=note)
            self._on_abort()
            with contextlib.suppress(Exception):
                self.write()
            sys.stdout.flush()
            os._exit(3)

        threading.Thread(target=watch, name="deadline-watchdog", daemon=True).start()


def _copy(value: Any) -> Any:
    """A deep copy of JSON-like data (taken under the lock; sections keep mutating theirs)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in list(value.items())}
    if isinstance(value, list):
        return [_copy(v) for v in list(value)]
    return value
