"""What one small request costs the server: ``ember serve`` under 5-token load, CPU per request.

    .venv/bin/python -m benchmarks.overhead                       # this tree, default flags
    .venv/bin/python -m benchmarks.overhead --variant before@/tmp/ember-base= \\
        --variant after= --variant "after-2w=--http-workers 2" --rounds 2
    .venv/bin/python -m benchmarks.overhead --profile --variant after=   # + py-spy profile

Each variant is ``LABEL[@TREE]=FLAGS``: ``ember serve`` (real all-MiniLM-L6-v2 on the CPU) with
extra flags, from this working tree or from another checkout ``TREE`` (e.g. a ``git worktree``
of an older commit, for before/after). Variants run interleaved, round after round, because
the machine is shared and drifts: compare within a run.

Load comes from separate processes (:mod:`benchmarks.harness.loadgen`, the generator of the GPU
benchmark): a closed loop of ``--concurrency`` requests in flight, each ONE input of
``--tokens`` random token ids; gRPC ``EmbedService/Embed`` (float32_le answers) and REST ``POST
/v1/embeddings`` (``encoding_format=base64``).

Per point it reports requests/s and latency, and the server's CPU time per request, read from
``/proc`` for every thread of the server and its child processes (``--http-workers``) at both
ends of the measured window, grouped by what the thread is: the event loop (each process's main
thread), gRPC core threads, the tokenizer pool, and the engine thread plus the native compute
pools it drives (torch/OpenMP). "outside forward" is everything but that last group: the per-
request cost of the serving path. Python thread names come from one ``py-spy dump`` per server.

``--profile`` adds a py-spy recording of the server's event-loop thread(s) during one extra
point per variant and transport, summarised by area (inclusive share of the loop's samples) and
by the functions where samples end.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import bootstrap, machine, serverpath
from benchmarks.profile import py_spy

REPO = Path(__file__).resolve().parent.parent
#: MiniLM's vocabulary without its special and unused ids.
_ID_RANGE = (1000, 29000)
_READY = re.compile(r"ember: ready grpc_port=(\d+)(?: http_port=(\d+))?")
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_GRPC_THREADS = ("grpc_global_tim", "event_engine", "lifeguard", "grpc")


_ENV_TOKEN = re.compile(r"^[A-Z_][A-Z0-9_]*=")


@dataclass(frozen=True)
class Variant:
    """One server configuration: a label, the source tree, environment and extra flags."""

    label: str
    tree: Path | None
    flags: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, spec: str) -> Variant:
        """``LABEL[@TREE]=[NAME=VALUE ...] FLAGS``: leading ``NAME=VALUE`` words set the
        server's environment (``PYTHONPATH`` is put after the tree's own import path)."""
        head, _, rest = spec.partition("=")
        label, _, tree = head.partition("@")
        words = shlex.split(rest)
        env = []
        while words and _ENV_TOKEN.match(words[0]):
            name, _, value = words.pop(0).partition("=")
            env.append((name, value))
        return cls(label, Path(tree).resolve() if tree else None, tuple(words), tuple(env))


@dataclass
class Server:
    """A running ``ember serve``."""

    process: subprocess.Popen[bytes]
    grpc_port: int
    http_port: int
    log_path: Path
    links: Path | None
    thread_names: dict[int, str] = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def serve(variant: Variant, timeout: float = 120.0) -> Iterator[Server]:
    """Start ``ember serve`` on free loopback ports; SIGTERM on exit (SIGKILL if stuck)."""
    env = dict(os.environ)
    env.update(variant.env)
    links: Path | None = None
    if variant.tree is not None:
        links = bootstrap.link_tree(variant.tree, "ember-overhead-src-")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(links), env.get("PYTHONPATH")) if p)
    log_path = Path(tempfile.mkstemp(prefix="ember-overhead-", suffix=".log")[1])
    command = [
        sys.executable,
        "-m",
        "ember.service.cli",
        "serve",
        "--grpc-host",
        "127.0.0.1",
        "--grpc-port",
        "0",
        "--http-host",
        "127.0.0.1",
        "--http-port",
        "0",
        "--log-level",
        "warning",
        # One grace covers both transports (``ember serve`` has no --http-shutdown-grace).
        "--shutdown-grace",
        "5",
        *variant.flags,
    ]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=log_file, env=env, cwd=str(REPO)
        )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + timeout
        ports = None
        while time.monotonic() < deadline:
            line = process.stdout.readline().decode(errors="replace")
            if not line:
                break
            match = _READY.search(line)
            if match:
                ports = int(match.group(1)), int(match.group(2) or 0)
                break
        if ports is None:
            raise RuntimeError(f"{variant.label}: server did not start:\n{log_path.read_text()}")
        yield Server(process, ports[0], ports[1], log_path, links)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if links is not None:
            shutil.rmtree(links, ignore_errors=True)


# -- CPU accounting ------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo.extend(_children(current))
    return pids


def thread_cpu(root: int) -> dict[tuple[int, int], tuple[str, float]]:
    """(pid, tid) -> (comm, CPU seconds) for every thread of ``root`` and its descendants."""
    out: dict[tuple[int, int], tuple[str, float]] = {}
    for pid in _tree(root):
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    stat = (task / "stat").read_text()
                    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
                    fields = stat.rsplit(")", 1)[1].split()
                    cpu = (int(fields[11]) + int(fields[12])) / _CLK_TCK
                    out[(pid, int(task.name))] = (comm, cpu)
    return out


def python_thread_names(root: int) -> dict[int, str]:
    """tid -> Python thread name, from ``py-spy dump`` of the server and its children."""
    spy = py_spy()
    names: dict[int, str] = {}
    if spy is None:
        return names
    for pid in _tree(root):
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            text = subprocess.run(
                [spy, "dump", "--nonblocking", "--pid", str(pid)],
                capture_output=True,
                text=True,
                timeout=20,
            ).stdout
            for match in re.finditer(r'Thread (?:0x)?([0-9A-Fa-f]+) \((?:\w+)\): "([^"]*)"', text):
                raw = match.group(1)
                tid = int(raw, 16) if match.group(0).startswith("Thread 0x") else int(raw)
                names[tid] = match.group(2)
    return names


def _group(root: int, pid: int, tid: int, comm: str, names: dict[int, str]) -> str:
    role = "service" if pid == root else "gateway workers"
    name = names.get(tid, "")
    if tid == pid:
        return f"{role}: event loop"
    if name.startswith("ember-tokenize"):
        return f"{role}: tokenizer pool"
    if "_poll_wrapper" in name or comm.startswith(_GRPC_THREADS):
        return f"{role}: gRPC core threads"
    if name.startswith("ember-engine") or (not name and role == "service"):
        return "service: engine thread + native compute pools"
    return f"{role}: other threads"


def cpu_by_group(
    root: int,
    before: dict[tuple[int, int], tuple[str, float]],
    after: dict[tuple[int, int], tuple[str, float]],
    names: dict[int, str],
) -> dict[str, float]:
    groups: collections.Counter[str] = collections.Counter()
    for key, (comm, cpu) in after.items():
        start = before.get(key, (comm, 0.0))[1]
        groups[_group(root, key[0], key[1], comm, names)] += cpu - start
    return dict(groups)


# -- server metrics ------------------------------------------------------------------------


def metrics_reader(http_port: int) -> Any:
    """A ``counters`` function for :meth:`serverpath.WorkerPool.run` reading ``/metrics``."""

    def read() -> dict[str, float]:
        out = dict.fromkeys(serverpath.SCHEDULER_METRICS, 0.0)
        if not http_port:
            return out
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10) as r:
                text = r.read().decode()
        except OSError:
            return out
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")
            for key, metric in serverpath.SCHEDULER_METRICS.items():
                if name == metric or name.startswith(metric + "{"):
                    out[key] += float(value)
        return out

    return read


# -- profile -------------------------------------------------------------------------------

#: Areas of the event loop's time. A sample goes to the innermost frame that matches an area
#: (walking from the leaf towards the root), so time inside a library called from Ember code is
#: the library's; "asyncio / uvloop machinery" only gets samples no other area claims. Code in
#: Cython or C (grpc's cygrpc, uvloop, pydantic-core, orjson) has no Python frame of its own:
#: its time lands on the nearest Python caller (often ``Handle._run``, i.e. the event loop
#: running a callback or a task step that is grpc.aio's Cython code).
_AREAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("prometheus metrics", ("prometheus_client/",)),
    ("REST: pydantic validation", ("pydantic",)),
    ("REST: JSON (orjson / json)", ("orjson", "json/")),
    ("REST: uvicorn / h11 / httptools", ("uvicorn/", "h11/", "httptools")),
    ("REST: starlette / fastapi", ("starlette/", "fastapi/")),
    ("gateway: upstream gRPC client", ("gateway/upstream.py",)),
    ("gateway code (middleware, routes, translate)", ("gateway/",)),
    ("tokenization (inline) / pool hop", ("engines/tokenizer", "service/tokenization.py")),
    ("thread-pool hand-offs", ("concurrent/futures",)),
    ("scheduler + batch policy", ("service/scheduler.py", "service/batching.py")),
    ("heads / vectors", ("engines/vectors", "engines/scores", "numpy/")),
    ("service core (admission, validate)", ("service/core.py", "service/admission.py")),
    ("interceptor", ("service/interceptors.py", "grpc_interceptor/")),
    ("servicer + convert", ("service/servicers.py", "service/convert.py")),
    ("gRPC runtime (grpc.aio Python part)", ("grpc/aio", "grpc/_", "cygrpc")),
    ("asyncio / uvloop machinery (incl. Cython callbacks)", ("asyncio/", "uvloop")),
)


#: Frames that run the event loop (everything below them is the program's entry point).
_LOOP_RUNNERS = ("run_forever", "Runner.run", "run_until_complete", "uvloop/__init__.py")
#: Leaf frames of a loop waiting for events (py-spy --native counts them as active).
_WAITS = ("epoll_wait", "epoll_pwait", "EpollSelector.select", "select_epoll_poll")


def summarise_profile(raw: str) -> dict[str, Any]:
    """Areas (inclusive) and leaf functions (self) of the event-loop threads' samples."""
    areas: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = idle = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        thread = next((f for f in frames[:2] if f.startswith("thread (")), "")
        if not thread.endswith("): MainThread"):
            continue  # only the event loops (each process's main thread)
        count = int(count_text)
        code = [f for f in frames if not f.startswith(("process ", "thread ("))]
        # Frames below the event loop's run call (the entry point, the CLI) say nothing about
        # where the loop's time goes: keep what runs inside the loop.
        runs = [i for i, f in enumerate(code) if any(m in f for m in _LOOP_RUNNERS)]
        if runs:
            code = code[runs[-1] + 1 :]
        if code and any(code[-1].startswith(w) for w in _WAITS):
            idle += count  # waiting in the loop's poll: not work
            continue
        total += count
        leaves[code[-1] if code else "?"] += count
        area = "other"
        for frame in reversed(code):
            hit = next((name for name, marks in _AREAS if any(m in frame for m in marks)), None)
            if hit is not None and (area == "other" or not hit.startswith("asyncio")):
                area = hit
                if not hit.startswith("asyncio"):
                    break
        areas[area] += count
    return {
        "samples": total,
        "idle_samples": idle,
        "areas": {k: v / total for k, v in areas.most_common()} if total else {},
        "leaves": {k: v / total for k, v in leaves.most_common(25)} if total else {},
    }


async def _record(root: int, seconds: float, out: Path, native: bool = False) -> None:
    """py-spy each process of the server (the service, then its gateway workers) to
    ``out`` (the service) and ``out`` with ``.worker-N`` before the suffix (the workers)."""
    pids = _tree(root)
    targets = [
        (pid, out if pid == root else out.with_suffix(f".worker-{i}.txt"))
        for i, pid in enumerate(pids)
    ]
    await asyncio.gather(*(_record_one(pid, seconds, path, native) for pid, path in targets))


async def _record_one(pid: int, seconds: float, out: Path, native: bool) -> None:
    spy = py_spy()
    if spy is None:
        raise RuntimeError("py-spy is not installed (pip install py-spy)")
    proc = await asyncio.create_subprocess_exec(
        spy,
        "record",
        "--pid",
        str(pid),
        "--threads",
        *(["--native"] if native else ["--nonblocking"]),
        "--rate",
        "200",
        "--duration",
        str(max(1, round(seconds))),
        "--format",
        "raw",
        "--output",
        str(out),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await proc.wait()


# -- the run -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    tokens: int
    concurrency: int
    clients: int
    warmup_s: float
    duration_s: float
    transports: tuple[str, ...]
    native: bool = False  # profile native (Cython/C) frames too; pauses the server to sample


async def _point(
    pool: serverpath.WorkerPool,
    server: Server,
    transport: str,
    opts: Options,
    profile_to: Path | None = None,
) -> dict[str, Any]:
    port = server.grpc_port if transport == "grpc" else server.http_port
    root = server.process.pid
    snaps: dict[str, Any] = {}

    async def window(start: float, end: float) -> None:
        # Thread names once per server, during the first warm-up (threads start lazily).
        if not server.thread_names:
            await asyncio.sleep(max(0.0, start - time.time() - 0.6))
            server.thread_names = await asyncio.to_thread(python_thread_names, root)
        await asyncio.sleep(max(0.0, start - time.time()))
        snaps["before"] = thread_cpu(root)
        if profile_to is not None:
            await _record(root, end - time.time() - 0.2, profile_to, opts.native)
        await asyncio.sleep(max(0.0, end - time.time()))
        snaps["after"] = thread_cpu(root)

    scenario = serverpath.Scenario(
        transport, opts.tokens, opts.concurrency, opts.warmup_s, opts.duration_s
    )
    point = await pool.run(
        scenario,
        "127.0.0.1",
        port,
        _ID_RANGE,
        counters=metrics_reader(server.http_port),
        window=window,
    )
    groups = cpu_by_group(root, snaps["before"], snaps["after"], server.thread_names)
    requests = max(1, point["requests"])
    engine = sum(v for k, v in groups.items() if "engine" in k)
    total = sum(groups.values())
    point["cpu_ms_per_request"] = {k: 1e3 * v / requests for k, v in sorted(groups.items())}
    point["cpu_ms_per_request_total"] = 1e3 * total / requests
    point["cpu_ms_per_request_outside_forward"] = 1e3 * (total - engine) / requests
    point["server_cpu_cores"] = total / opts.duration_s
    point.pop("latencies_ms", None)
    return point


async def run(
    variants: list[Variant], opts: Options, rounds: int, profile: bool, out: Path
) -> dict[str, Any]:
    pool = serverpath.WorkerPool(opts.clients)
    await pool.start()
    results: dict[str, Any] = {
        "meta": {**machine.environment("benchmarks.overhead"), "options": opts.__dict__},
        "points": [],
        "profiles": {},
    }
    try:
        for r in range(rounds):
            for variant in variants:
                with serve(variant) as server:
                    for transport in opts.transports:
                        if transport == "rest" and not server.http_port:
                            continue
                        point = await _point(pool, server, transport, opts)
                        point.update(variant=variant.label, round=r)
                        results["points"].append(point)
                        print(_line(point), flush=True)
                    if profile and r == rounds - 1:
                        for transport in opts.transports:
                            raw = out / f"profile-{variant.label}-{transport}.txt"
                            await _point(pool, server, transport, opts, profile_to=raw)
                            name = f"{variant.label}/{transport}"
                            text = raw.read_text() if raw.exists() else ""
                            results["profiles"][f"{name} service"] = summarise_profile(text)
                            workers = "".join(
                                p.read_text()
                                for p in sorted(raw.parent.glob(f"{raw.stem}.worker-*"))
                            )
                            if workers:
                                summary = summarise_profile(workers)
                                results["profiles"][f"{name} gateway workers"] = summary
        results["meta"]["load_after"] = machine.load_average()
    finally:
        await pool.close()
    return results


def _line(p: dict[str, Any]) -> str:
    return (
        f"{p['variant']:>16} {p['transport']:>4} r{p['round']}: {p['req_per_s']:7.0f} req/s  "
        f"p50 {p['p50_ms'] or 0:6.1f} ms  p99 {p['p99_ms'] or 0:6.1f} ms  err {p['errors']}  "
        f"CPU/req {p['cpu_ms_per_request_total']:.3f} ms, outside forward "
        f"{p['cpu_ms_per_request_outside_forward']:.3f} ms  batch {p['mean_batch_inputs']:.1f}"
    )


def report(results: dict[str, Any]) -> str:
    """Markdown: medians per variant and transport, CPU groups, profiles."""
    lines = [
        "| variant | transport | req/s (median) | p50 ms | p99 ms | server CPU ms/req | "
        "outside forward ms/req | inputs/batch | errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    by: dict[tuple[str, str], list[dict[str, Any]]] = collections.defaultdict(list)
    for p in results["points"]:
        by[(p["variant"], p["transport"])].append(p)

    for (variant, transport), pts in by.items():
        rates = ", ".join(f"{p['req_per_s']:,.0f}" for p in pts)
        lines.append(
            f"| {variant} | {transport} | {statistics.median([p['req_per_s'] for p in pts]):,.0f} "
            f"({rates}) | "
            f"{statistics.median([p['p50_ms'] or 0 for p in pts]):.1f} | "
            f"{statistics.median([p['p99_ms'] or 0 for p in pts]):.1f} | "
            f"{statistics.median([p['cpu_ms_per_request_total'] for p in pts]):.3f} | "
            f"{statistics.median([p['cpu_ms_per_request_outside_forward'] for p in pts]):.3f} | "
            f"{statistics.median([p['mean_batch_inputs'] for p in pts]):.1f} | "
            f"{sum(p['errors'] for p in pts)} |"
        )
    lines += ["", "CPU ms per request by thread group (median over rounds):", ""]
    for (variant, transport), pts in by.items():
        keys = sorted({k for p in pts for k in p["cpu_ms_per_request"]})
        parts = [
            f"{k} {statistics.median([p['cpu_ms_per_request'].get(k, 0.0) for p in pts]):.3f}"
            for k in keys
        ]
        lines.append(f"- {variant} / {transport}: " + "; ".join(parts))
    for name, prof in results.get("profiles", {}).items():
        lines += [
            "",
            f"Profile {name}: event-loop thread(s), {prof['samples']} busy samples "
            f"({prof.get('idle_samples', 0)} more waiting for events); share of busy samples:",
            "",
        ]
        lines += [f"- {k}: {v:.1%}" for k, v in prof["areas"].items()]
        lines += ["", "  leaf functions (self time):"]
        lines += [f"  - {k}: {v:.1%}" for k, v in list(prof["leaves"].items())[:15]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="LABEL[@TREE]=FLAGS (repeatable; default: one variant, this tree, no flags)",
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--clients", type=int, default=2, help="load-generator processes")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--transports", default="grpc,rest")
    parser.add_argument("--profile", action="store_true", help="py-spy the event loop(s)")
    parser.add_argument(
        "--native", action="store_true", help="profile with native frames (Cython, C)"
    )
    parser.add_argument("--out", type=Path, default=REPO / ".bench" / "overhead")
    args = parser.parse_args(argv)
    variants = [Variant.parse(v) for v in args.variant] or [Variant("this-tree", None, ())]
    opts = Options(
        tokens=args.tokens,
        concurrency=args.concurrency,
        clients=args.clients,
        warmup_s=args.warmup,
        duration_s=args.duration,
        transports=tuple(t for t in args.transports.split(",") if t),
        native=args.native,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    results = asyncio.run(run(variants, opts, args.rounds, args.profile, args.out))
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    text = report(results)
    (args.out / "report.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
