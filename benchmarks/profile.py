"""Where an Ember server's time goes: py-spy samples of the server during the short workload.

Records the server process (all threads, idle excluded, without pausing it) while the harness
load generator sends the short workload over REST, then summarises the samples two ways: by area
(the model forward, tokenization, the gateway, the gRPC service, protobuf conversion, asyncio)
and by the functions where samples end (self time). Every sample is one thread's stack at one
instant, so areas add up across threads (two cores give up to 200 % of wall time).
"""

from __future__ import annotations

import collections
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from benchmarks.harness import loadgen
from benchmarks.harness.servers import Running

#: Areas, by the first matching marker in a stack (checked in order, innermost-first).
_AREAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("model forward (torch / onnxruntime)", ("torch/", "onnxruntime", "engines/torch_engine")),
    ("tokenization", ("tokenizers", "engines/tokenizer")),
    ("REST gateway (fastapi, uvicorn, json)", ("gateway/", "fastapi", "starlette", "uvicorn")),
    ("gRPC runtime (grpc.aio, cygrpc)", ("grpc/", "cygrpc", "_channel", "_server")),
    ("service core (scheduler, convert, admission)", ("service/",)),
    ("asyncio event loop", ("asyncio/",)),
)
_TOP = 15


def py_spy() -> str | None:
    """The py-spy executable (on PATH or beside this Python), or None when not installed."""
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return found if Path(found).is_file() else None


def summarise(raw: str) -> str:
    """Markdown tables from py-spy's raw (collapsed stack) output."""
    areas: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        leaves[frames[-1]] += count
        area = "other"
        for frame in reversed(frames):
            hit = next((name for name, marks in _AREAS if any(m in frame for m in marks)), None)
            if hit is not None:
                area = hit
                break
        areas[area] += count
    if not total:
        return "(py-spy recorded no samples)"
    lines = [f"{total} samples (all threads).", "", "| area | share of samples |", "|---|---:|"]
    lines += [f"| {name} | {100 * n / total:.1f} % |" for name, n in areas.most_common()]
    lines += ["", "| function (self) | share |", "|---|---:|"]
    for frame, n in leaves.most_common(_TOP):
        lines.append(f"| `{frame[:110]}` | {100 * n / total:.1f} % |")
    return "\n".join(lines)


def profile_short(running: Running, texts: Sequence[str], tokens: int, concurrency: int) -> str:
    """Profile ``running`` while ``texts`` are sent over REST again and again; a Markdown
    summary of where the server's samples fell."""
    spy = py_spy()
    if spy is None:
        return "(py-spy is not installed: pip install py-spy)"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "raw.txt"
        done = threading.Event()

        def drive() -> None:
            try:
                while not done.is_set():
                    loadgen.rest(running.base_url, texts, tokens, concurrency, 0)
            except Exception:  # the profile is best-effort; the run reports its own failures
                done.set()

        driver = threading.Thread(target=drive, daemon=True)
        driver.start()
        result = subprocess.run(
            [
                spy,
                "record",
                "--pid",
                str(running.pid),
                "--duration",
                "10",
                "--rate",
                "200",
                "--format",
                "raw",
                "--nonblocking",
                "--output",
                str(out),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        done.set()
        driver.join(timeout=120)
        if result.returncode != 0 or not out.is_file():
            return f"(py-spy failed: {result.stderr.strip()[-300:]})"
        return summarise(out.read_text())
