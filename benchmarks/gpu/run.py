"""Ember's GPU benchmark: one plan that measures everything GPU-side in one short lease.

    python3 -m benchmarks.gpu.run --out "$OUT"            # the device machine (CUDA)
    python -m benchmarks.gpu.run --cpu --tiny --out DIR   # the CPU dry run, tiny shapes

The plan is :func:`plan_sections`: named sections in order of value over the harness
(:mod:`benchmarks.harness`: runner with a soft deadline and a watchdog, machine record, served
path and load generator, sentence-transformers peer, report writer) and the GPU-only
measurements of :mod:`benchmarks.gpu.sections`. ``results.json``, ``RESULTS.md``,
``results.png`` and ``log.txt`` are rewritten after every section, so a timeout still leaves
every number measured so far. :class:`Plan` holds the sizes: the full one for the GPU, a tiny
one for the CPU dry run. Models: Qwen3-Embedding-4B, Qwen3-Embedding-0.6B, BERT-base and
EmbeddingGemma-300m shapes (``shapes.py``), seeded random weights created on the device. See
README.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Nothing outside the device machine can be reached: never let a library try the Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

from benchmarks.harness import bootstrap

bootstrap.ensure_ember_importable()

from benchmarks.gpu import models, report, sections  # noqa: E402
from benchmarks.gpu.sections import Ctx  # noqa: E402
from benchmarks.gpu.shapes import shapes  # noqa: E402
from benchmarks.harness import machine, serverpath  # noqa: E402
from benchmarks.harness.runner import Runner, Section, log, tee_output  # noqa: E402


@dataclass(frozen=True)
class Plan:
    """Sizes and time targets: the full plan for the GPU, a tiny one for the CPU dry run."""

    long_len: int = 500
    short_len: int = 5
    batch_tokens: int = 32768  # engine-only batch cap (PackedEngine's own cap), every engine
    small_batch_requests: int = 16
    short_batch: int = 512  # the service's default max batch requests on CUDA
    point_s: float = 1.5  # time target of one engine-only point
    min_repeats: int = 3
    warmup: int = 2
    profile_runs: int = 5
    launch_rows: tuple[int, ...] = (1, 32)
    matmul_size: int = 8192
    peak_s: float = 1.0
    parity_lengths: tuple[int, ...] = (3, 17, 64, 128, 257, 500)
    probe_inputs: int = 8
    st_long_batches: tuple[int, ...] = (32, 128)
    st_short_batches: tuple[int, ...] = (32, 512)
    st_long_texts: int = 1024
    st_short_texts: int = 4096
    st_point_s: float = 2.5
    mixed_tokens: int = 32768
    mixed_range: tuple[int, int] = (8, 512)
    workers: int = 8
    conc_long: int = 256
    conc_short: int = 512
    server_warmup_s: float = 1.5
    server_duration_s: float = 4.0
    server_long_duration_s: float = 6.0  # long requests complete in large batches
    http_workers: int = 4  # gateway processes of the ``server-http-workers`` section
    deadline_s: float = 420.0
    grace_s: float = 25.0


TINY_PLAN = Plan(
    long_len=64,
    batch_tokens=1024,
    small_batch_requests=4,
    short_batch=32,
    point_s=0.15,
    min_repeats=2,
    warmup=1,
    profile_runs=2,
    launch_rows=(1, 8),
    matmul_size=256,
    peak_s=0.1,
    parity_lengths=(3, 9, 17, 40, 64),
    probe_inputs=4,
    st_long_batches=(8,),
    st_short_batches=(16,),
    st_long_texts=32,
    st_short_texts=64,
    st_point_s=0.2,
    mixed_tokens=1024,
    mixed_range=(4, 64),
    workers=2,
    conc_long=4,
    conc_short=8,
    server_warmup_s=0.3,
    server_duration_s=0.8,
    server_long_duration_s=0.8,
    http_workers=2,
    deadline_s=150.0,
    grace_s=20.0,
)


def plan_sections(ctx: Ctx) -> list[Section]:
    """The plan: every section in order of value, with the seconds it needs at least."""
    both: list[tuple[str, str | None]] = [("packed", None), ("packed", "fp8")]
    bf16: list[tuple[str, str | None]] = [("packed", None)]
    return [
        ("env", 0, lambda: sections.section_env(ctx)),
        ("peaks", 5, lambda: sections.section_peaks(ctx)),
        ("parity", 20, lambda: sections.section_parity(ctx)),
        ("qwen3-4b/engine", 30, lambda: sections.section_engine(ctx, "qwen3-4b")),
        ("qwen3-4b/peers", 30, lambda: sections.section_peers(ctx, "qwen3-4b")),
        ("qwen3-4b/server", 30, lambda: sections.section_server(ctx, "qwen3-4b", both, lean=False)),
        ("qwen3-0.6b/engine", 20, lambda: sections.section_engine(ctx, "qwen3-0.6b")),
        ("qwen3-0.6b/peers", 20, lambda: sections.section_peers(ctx, "qwen3-0.6b")),
        ("bert-base/engine", 15, lambda: sections.section_engine(ctx, "bert-base")),
        ("bert-base/peers", 15, lambda: sections.section_peers(ctx, "bert-base")),
        ("embeddinggemma/engine", 15, lambda: sections.section_engine(ctx, "embeddinggemma")),
        ("embeddinggemma/peers", 15, lambda: sections.section_peers(ctx, "embeddinggemma")),
        ("mixed", 20, lambda: sections.section_mixed(ctx)),
        (
            "qwen3-0.6b/server",
            25,
            lambda: sections.section_server(ctx, "qwen3-0.6b", bf16, lean=False),
        ),
        (
            "bert-base/server",
            25,
            lambda: sections.section_server(ctx, "bert-base", bf16, lean=True),
        ),
        (
            "qwen3-0.6b/server-gateway-process",
            20,
            lambda: sections.section_separate_gateway(ctx, "qwen3-0.6b"),
        ),
        (
            "qwen3-0.6b/server-http-workers",
            25,
            lambda: sections.section_http_workers(ctx, "qwen3-0.6b"),
        ),
        ("parity-folders", 15, lambda: sections.section_parity_folders(ctx)),
        (
            "qwen3-4b/engine-fp8-fast-accum",
            25,
            lambda: sections.section_engine(ctx, "qwen3-4b", fast=True),
        ),
    ]


def _raise_open_files_limit() -> None:
    """Hundreds of client connections: lift the soft open-files limit to the hard one."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
            resource.setrlimit(
                resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard)
            )
    except (ImportError, ValueError, OSError):
        pass


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ".bench/gpu")))
    parser.add_argument("--cpu", action="store_true", help="run on the CPU (dry run)")
    parser.add_argument("--tiny", action="store_true", help="tiny shapes and short points")
    parser.add_argument("--deadline", type=float, default=None, help="seconds (soft)")
    parser.add_argument(
        "--only", default="", help="comma-separated section names or prefixes to run"
    )
    parser.add_argument("--skip", default="", help="comma-separated section names to skip")
    return parser.parse_args(argv)


def plan_name(args: argparse.Namespace) -> str:
    """``tiny`` (the dry-run sizes) or ``full``."""
    return "tiny" if args.tiny else "full"


def main(argv: list[str] | None = None) -> int:
    """Run the plan; returns the process exit code."""
    args = _parse(argv)
    plan = TINY_PLAN if args.tiny else Plan()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    tee_output(out)
    deadline = args.deadline if args.deadline is not None else plan.deadline_s
    results: dict[str, Any] = {
        "kind": "gpu",
        "meta": {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": machine.command("benchmarks.gpu.run"),
            "mode": plan_name(args),
            "deadline_s": deadline,
            "plan": asdict(plan),
            "load_before": machine.load_average(),
        },
        "sections": [],
    }
    runner = Runner(
        out, deadline, results, after_section=models.free, on_abort=serverpath.kill_children
    )
    runner.start_watchdog(plan.grace_s)
    _raise_open_files_limit()

    import torch

    if args.cpu:
        device = "cpu"
    elif torch.cuda.is_available():
        device = "cuda"
    else:
        log("no CUDA device: use --cpu for the dry run")
        results["meta"]["error"] = "no CUDA device"
        runner.write()
        return 2
    work = Path(tempfile.mkdtemp(prefix="ember-gpu-bench-"))
    ctx = Ctx(plan, args.tiny, device, runner, results, work, shapes(args.tiny))
    log(f"Ember GPU benchmark: device {device}, mode {plan_name(args)}, deadline {deadline}s")
    try:
        runner.run_all(plan_sections(ctx), args.only, args.skip)
    finally:
        serverpath.kill_children()
        shutil.rmtree(work, ignore_errors=True)
        runner.write()
    log(f"done in {runner.elapsed():.0f}s; outputs in {out}")
    print(report.summary_lines(results), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
