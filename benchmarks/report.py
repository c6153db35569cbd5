"""Writing a run's results: ``RESULTS.md`` (tables, targets, machine, command) and ``results.png``.

Headline numbers are the performance client's (REST, as BEI users drive a server) for servers
and ``encode`` for sentence-transformers; every ratio is between numbers of the same run.
``analysis.md`` beside the written RESULTS.md, when present, is appended as the analysis.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmarks.run import Results

ST = "sentence-transformers"
INFINITY = "infinity"
#: The Ember variant targets (issue 5): long-input throughput vs sentence-transformers, and
#: the accuracy floor that goes with it.
TARGETS = {
    "fp32": (1.0, 0.9999),
    "bf16": (2.5, 0.999),
    "bf16-compile": (2.5, 0.999),
    "int8": (4.0, 0.99),
}
_ACCURACY_MODE = {
    "fp32": "onnx-fp32",
    "bf16": "bf16",
    "bf16-compile": "bf16-compile",
    "int8": "onnx-int8",
}
_SHORT_VS_INFINITY = 2.0
_COLD_START_S = 3.0


def _headline_client(target: str) -> str:
    return "in-process" if target == ST else "perf-client"


def _fmt(value: float | None, digits: int = 0, suffix: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}{suffix}"


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def _targets(results: Results) -> list[str]:
    seen: list[str] = []
    for sample in results.samples:
        if sample.target not in seen:
            seen.append(sample.target)
    return seen


def _throughput_table(results: Results) -> list[str]:
    st_long = results.median(ST, "long", "in-process", "tokens_per_s")
    inf_long = results.median(INFINITY, "long", "perf-client", "tokens_per_s")
    inf_short = results.median(INFINITY, "short", "perf-client", "requests_per_s")
    lines = [
        "| server | client | long tok/s | long p50 / p99 ms | short req/s | short p50 / p99 ms "
        "| long × ST | long × Infinity | short × Infinity |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for target in _targets(results):
        clients = sorted(
            {s.client for s in results.samples if s.target == target},
            key=lambda c: ("in-process", "perf-client", "rest", "grpc").index(c),
        )
        for client in clients:
            long_tps = results.median(target, "long", client, "tokens_per_s")
            short_rps = results.median(target, "short", client, "requests_per_s")
            lat_long = (
                f"{_fmt(results.latency(target, 'long', client, 50), 0)} / "
                f"{_fmt(results.latency(target, 'long', client, 99), 0)}"
            )
            lat_short = (
                f"{_fmt(results.latency(target, 'short', client, 50), 1)} / "
                f"{_fmt(results.latency(target, 'short', client, 99), 1)}"
            )
            lines.append(
                f"| {target} | {client} | {_fmt(long_tps)} | {lat_long} | {_fmt(short_rps, 1)} "
                f"| {lat_short} | {_fmt(_ratio(long_tps, st_long), 2, '×')} "
                f"| {_fmt(_ratio(long_tps, inf_long), 2, '×')} "
                f"| {_fmt(_ratio(short_rps, inf_short), 2, '×')} |"
            )
    return lines


def _accuracy_of(results: Results, mode: str) -> float | None:
    for a in results.accuracy:
        if a.mode == mode:
            return a.min_cosine
    return 1.0 if mode == "fp32-torch" else None


def _target_table(results: Results) -> list[str]:
    st_long = results.median(ST, "long", "in-process", "tokens_per_s")
    inf_short = results.median(INFINITY, "short", "perf-client", "requests_per_s")
    lines = ["| target | goal | measured | met |", "|---|---|---|---|"]

    def row(name: str, goal: str, measured: str, ok: bool | None) -> None:
        verdict = "–" if ok is None else ("yes" if ok else "**no**")
        lines.append(f"| {name} | {goal} | {measured} | {verdict} |")

    for variant, (factor, floor) in TARGETS.items():
        name = f"ember {variant}"
        ratio = _ratio(results.median(name, "long", "perf-client", "tokens_per_s"), st_long)
        cosine = _accuracy_of(results, _ACCURACY_MODE[variant])
        ok = None if ratio is None else ratio >= factor and (cosine or 0.0) >= floor
        measured = f"{_fmt(ratio, 2, '×')}, min cosine {_fmt(cosine, 5)}"
        if ratio is not None and ratio < factor:
            measured += f" ({ratio / factor * 100:.0f} % of the goal)"
        row(f"{variant} long-input throughput", f"≥ {factor}× ST, min cos ≥ {floor}", measured, ok)
    for target in [t for t in _targets(results) if t.startswith("ember")]:
        ratio = _ratio(results.median(target, "short", "perf-client", "requests_per_s"), inf_short)
        measured = _fmt(ratio, 2, "×")
        if ratio is not None and ratio < _SHORT_VS_INFINITY:
            measured += f" ({ratio / _SHORT_VS_INFINITY * 100:.0f} % of the goal)"
        ok = None if ratio is None else ratio >= _SHORT_VS_INFINITY
        row(f"{target} 5-token req/s", f"≥ {_SHORT_VS_INFINITY}× Infinity", measured, ok)
    starts = [s.to_serving_s for s in results.starts if s.target == "ember fp32" and s.to_serving_s]
    if starts:
        best = min(starts)
        row("fp32 cold start to SERVING", f"< {_COLD_START_S} s", f"{best:.2f} s", best < 3.0)
    return lines


def _gateway_table(results: Results) -> list[str]:
    lines = [
        "| server | workload | REST (aiohttp) | gRPC | REST ÷ gRPC throughput "
        "| p50 REST − gRPC (ms) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for target in [t for t in _targets(results) if t.startswith("ember")]:
        for workload, metric, unit in (
            ("long", "tokens_per_s", "tok/s"),
            ("short", "requests_per_s", "req/s"),
        ):
            rest = results.median(target, workload, "rest", metric)
            grpc = results.median(target, workload, "grpc", metric)
            p_rest = results.latency(target, workload, "rest", 50)
            p_grpc = results.latency(target, workload, "grpc", 50)
            delta = None if p_rest is None or p_grpc is None else p_rest - p_grpc
            lines.append(
                f"| {target} | {workload} | {_fmt(rest)} {unit} | {_fmt(grpc)} {unit} "
                f"| {_fmt(_ratio(rest, grpc), 2)} | {_fmt(delta, 1)} |"
            )
    return lines


def _starts_table(results: Results) -> list[str]:
    lines = ["| server | to SERVING (s) | to first answer (s) |", "|---|---:|---:|"]
    names: list[str] = []
    for s in results.starts:
        if s.target not in names:
            names.append(s.target)
    for name in names:
        runs = [s for s in results.starts if s.target == name]
        serving = [s.to_serving_s for s in runs if s.to_serving_s is not None]
        first = [s.to_first_answer_s for s in runs]
        lines.append(
            f"| {name} | {_fmt(min(serving) if serving else None, 2)} | {_fmt(min(first), 2)} |"
        )
    return lines


def _accuracy_table(results: Results) -> list[str]:
    from benchmarks.accuracy import MODES

    floors = {m.name: m for m in MODES}
    lines = [
        "| mode | flags | min cosine | mean cosine | documented floor (min / mean) | note |",
        "|---|---|---:|---:|---|---|",
    ]
    for a in results.accuracy:
        mode = floors.get(a.mode)
        flags = " ".join(mode.flags) if mode else "(in-process encode)"
        floor = f"{mode.min_cosine} / {mode.mean_cosine}" if mode else "–"
        note = mode.note if mode else "reference implementation vs Ember fp32"
        if a.refused:
            lines.append(f"| {a.mode} | `{flags}` | refused | refused | {floor} | {a.refused} |")
            continue
        lines.append(
            f"| {a.mode} | `{flags}` | {a.min_cosine:.5f} | {a.mean_cosine:.6f} | {floor} "
            f"| {note} |"
        )
    return lines


def _accuracy_count(results: Results) -> int:
    return results.accuracy[0].texts if results.accuracy else results.plan.accuracy_texts


def _chart(results: Results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = _targets(results)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    panels: Sequence[tuple[str, str, str]] = (
        ("long", "tokens_per_s", f"long inputs ({results.max_length} tokens): tokens/s"),
        ("short", "requests_per_s", "5-token requests: requests/s"),
    )
    for axis, (workload, metric, title) in zip(axes, panels, strict=True):
        names: list[str] = []
        values: list[float] = []
        colors: list[str] = []
        for target in targets:
            value = results.median(target, workload, _headline_client(target), metric)
            if value is None:
                continue
            names.append(target.replace("ember ", "Ember "))
            values.append(value)
            colors.append("#d9480f" if target.startswith("ember") else "#868e96")
        bars = axis.bar(names, values, color=colors)
        axis.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=8)
        axis.set_title(title, fontsize=10)
        axis.tick_params(axis="x", labelrotation=30, labelsize=8)
        axis.spines[["top", "right"]].set_visible(False)
    fig.suptitle(f"Ember on CPU vs peers — {results.environment.get('cpu', '')[:90]}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(results: Results, out: Path) -> None:
    """Write ``RESULTS.md`` and ``results.png`` into ``out``."""
    env = results.environment
    plan = results.plan
    lines = [
        "# Ember CPU benchmark",
        "",
        "Generated by `python -m benchmarks.run` (`make bench`); do not edit by hand — the "
        "analysis lives in `analysis.md` beside this file.",
        "",
        f"- **Date**: {env.get('date')} · **commit** `{env.get('commit')}`",
        f"- **Command**: `{env.get('command')}`",
        f"- **Machine**: {env.get('cpu')}",
        f"- **Load average** before / after: {env.get('load_before')} → {env.get('load_after')}"
        " (a shared machine drifts: only ratios within this run are comparable)",
        f"- **Software**: {env.get('versions')}",
        f"- **Model**: `{results.model}` (max length {results.max_length})",
        f"- **Workloads**: long = {plan.long_count} requests × "
        f"{results.long_tokens_per_request:.0f} tokens, {plan.long_concurrency} in flight; "
        f"short = {plan.short_count} requests × {results.short_tokens_per_request:.1f} tokens, "
        f"{plan.short_concurrency} in flight; one input per request; {plan.rounds} round(s), "
        "medians.",
        "",
        *(
            [
                "> **--quick run**: small counts and one round, a smoke test of the harness; "
                "its ratios are not measurements. Run `make bench` on a quiet machine.",
                "",
            ]
            if plan.quick
            else []
        ),
        "![throughput](results.png)",
        "",
        "## Targets (issue 5)",
        "",
        *_target_table(results),
        "",
        "## Throughput and latency",
        "",
        "sentence-transformers is `encode(batch_size=32)` in-process (no server, no client); "
        "servers are driven over loopback by `perf-client` (baseten-performance-client, REST "
        "`/v1/embeddings`), `rest` (aiohttp) and `grpc` (grpc.aio `EmbedService/Embed`). The "
        "clients share the same 2 cores with the server. Ratios use the perf-client rows.",
        "",
        *_throughput_table(results),
        "",
        "## Gateway overhead (same workload, REST vs direct gRPC)",
        "",
        *_gateway_table(results),
        "",
        "## Cold start (process start → SERVING → first embedding answered; best of rounds)",
        "",
        *_starts_table(results),
        "",
        f"## Accuracy (cosine vs Ember fp32 over {_accuracy_count(results)} mixed-length "
        "texts of `benchmarks/corpus.py`)",
        "",
        *_accuracy_table(results),
        "",
    ]
    if results.profile:
        lines += ["## Profile (py-spy, fp32 server, short workload)", "", results.profile, ""]
    if results.failures:
        lines += ["## Failures", "", *[f"- {f}" for f in results.failures], ""]
    # The hand-written analysis of a results folder lives beside it (the default folder's is
    # benchmarks/analysis.md; benchmarks/results-<isa>/ folders have their own).
    analysis = out / "analysis.md"
    if analysis.is_file():
        lines += [analysis.read_text().rstrip(), ""]
    (out / "RESULTS.md").write_text("\n".join(lines))
    if results.samples:
        try:
            _chart(results, out / "results.png")
        except ImportError:  # matplotlib comes with the bench extra
            print("bench: matplotlib is not installed; no chart written", flush=True)
