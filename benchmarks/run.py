"""Ember's CPU benchmark: Ember vs sentence-transformers vs Infinity, one command, one run.

    make bench                                   # full run, writes RESULTS.md + results.png
    .venv/bin/python -m benchmarks.run --quick   # ~3 minute smoke run (small counts)

Two workloads on the same local model folder (default: the embedded all-MiniLM-L6-v2):

* ``long``: token throughput, one input of the model's maximum length (256 tokens for MiniLM,
  up to 500) per request, 32 requests in flight;
* ``short``: request throughput, one ~5-token input per request, 256 requests in flight.

Peers, measured in the same run: sentence-transformers ``encode`` in-process (batch 32; no
server, the bar for "serving overhead fully hidden") and Infinity (its torch engine, REST, own
venv). Ember runs as ``ember serve`` per variant (fp32 default = onnx, bf16, onnx int8, torch fp32),
driven over REST by baseten-performance-client and the harness's asyncio HTTP client, and over
gRPC. Each round visits every target in turn; with several rounds the report quotes medians.
The machine should be otherwise idle: every number shares its cores with the client and
anything else.

The plan is a list of sections (each round, the accuracy table) run by the harness's runner:
the results folder (default ``benchmarks/results-<this CPU's ISA class>/``: results.json,
RESULTS.md, results.png, log.txt) is rewritten after every section.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks import corpus
from benchmarks.harness import loadgen, machine, peers, servers
from benchmarks.harness.loadgen import Measurement
from benchmarks.harness.runner import Runner, Section, log, tee_output
from benchmarks.harness.workloads import Workload, text_workloads

BENCHMARKS = Path(__file__).resolve().parent

#: Ember variants: name -> ``ember serve`` flags.
VARIANTS: dict[str, tuple[str, ...]] = {
    # The default: backend auto = ONNX Runtime fp32 for this encoder on the CPU.
    "fp32": (),
    "bf16": ("--dtype", "bfloat16"),
    "bf16-compile": ("--dtype", "bfloat16", "--compile", "true"),
    "int8": ("--backend", "onnx", "--quantization", "int8"),
    "fp32-torch": ("--backend", "torch"),
}
CLIENTS = tuple(loadgen.CLIENTS)


@dataclass(frozen=True)
class Plan:
    """How much to measure."""

    long_count: int
    short_count: int
    long_concurrency: int
    short_concurrency: int
    rounds: int
    variants: tuple[str, ...]
    clients: tuple[str, ...]
    infinity: bool
    accuracy: bool
    profile: bool
    #: Texts of the accuracy corpus used (all 200 in a full run).
    accuracy_texts: int = 200
    #: A --quick smoke run (its numbers are not measurements).
    quick: bool = False


def default_out() -> Path:
    """This machine's results folder: ``benchmarks/results-<ISA class>/``."""
    return BENCHMARKS / f"results-{machine.results_kind(machine.isa_class())}"


def _sample(target: str, workload: str, client: str, rnd: int, m: Measurement) -> dict[str, Any]:
    """One measurement as the results JSON keeps it (percentiles instead of every latency)."""
    return {
        "target": target,
        "workload": workload,
        "client": client,
        "round": rnd,
        "measurement": {
            "requests": m.requests,
            "tokens": m.tokens,
            "seconds": m.seconds,
            "tokens_per_s": m.tokens_per_s,
            "requests_per_s": m.requests_per_s,
            "p50_ms": m.percentile_ms(50),
            "p99_ms": m.percentile_ms(99),
        },
    }


class _Run:
    """One run: the plan, its workloads, the results dict the sections fill."""

    def __init__(self, model: Path, plan: Plan, results: dict[str, Any]) -> None:
        self.model, self.plan, self.results = model, plan, results
        long_work, short_work, max_length = text_workloads(
            model, plan.long_count, plan.short_count, plan.long_concurrency, plan.short_concurrency
        )
        self.workloads = (long_work, short_work)
        results.update(
            model=str(model),
            max_length=max_length,
            long_tokens_per_request=long_work.tokens / len(long_work.texts),
            short_tokens_per_request=short_work.tokens / len(short_work.texts),
        )
        log(
            f"long: {len(long_work.texts)} x {results['long_tokens_per_request']:.0f} tokens; "
            f"short: {len(short_work.texts)} x {results['short_tokens_per_request']:.1f} tokens"
        )
        self._st: Any = None

    def fail(self, what: str, exc: BaseException | str) -> None:
        """Record a failure without losing the rest of the round."""
        message = f"{what}: {exc!r}" if isinstance(exc, BaseException) else f"{what}: {exc}"
        self.results["failures"].append(message)
        log(f"FAILED {message}")

    def sentence_transformers(self, rnd: int) -> None:
        """The in-process peer, loaded once and measured before every server (interleaved), so
        its median follows the machine's drift over the run."""
        try:
            if self._st is None:
                self._st = peers.sentence_transformer(self.model, "cpu")
            for work in self.workloads:
                timed = peers.time_encode(self._st, work.texts, 32, "cpu", None)
                m = Measurement(len(work.texts), work.tokens, timed["median_s"])
                self.results["samples"].append(_sample(peers.ST, work.name, "in-process", rnd, m))
                log(f"sentence-transformers {work.name}: {m.tokens_per_s:,.0f} tok/s")
        except Exception as exc:
            self.fail("sentence-transformers", exc)

    def drive(self, running: servers.Running, clients: Sequence[str], rnd: int) -> None:
        """Every workload through every client against one running server."""
        for work in self.workloads:
            for client in clients:
                self._one(running, work, client, rnd)

    def _one(self, running: servers.Running, work: Workload, client: str, rnd: int) -> None:
        if client == "grpc" and running.grpc_target is None:
            return
        address = running.grpc_target if client == "grpc" else running.base_url
        assert address is not None
        warmup = min(len(work.texts), work.concurrency)
        what = f"{running.name} {work.name} {client}"
        try:
            m = loadgen.CLIENTS[client](address, work.texts, work.tokens, work.concurrency, warmup)
        except Exception as exc:  # one failing client must not lose the rest of the run
            self.fail(what, exc)
            return
        if m.errors:  # a partly failed run measures the errors' speed: keep it out
            self.fail(what, f"{m.errors} of {m.requests} requests failed; not counted")
            return
        self.results["samples"].append(_sample(running.name, work.name, client, rnd, m))
        log(
            f"{what}: {m.tokens_per_s:,.0f} tok/s, {m.requests_per_s:,.1f} req/s, "
            f"p50 {m.percentile_ms(50) or 0:.1f} ms"
        )

    def start(self, running: servers.Running, rnd: int) -> None:
        """Record a server's cold start."""
        self.results["starts"].append(
            {
                "target": running.name,
                "round": rnd,
                "to_serving_s": running.to_serving_s,
                "to_first_answer_s": running.to_first_answer_s,
            }
        )

    def infinity(self, rnd: int) -> None:
        """Infinity (REST only), after a sentence-transformers measurement."""
        self.sentence_transformers(rnd)
        if not servers.infinity_available():
            raise RuntimeError("Infinity is not installed (see the 'infinity install' section)")
        with servers.infinity(self.model) as running:
            self.start(running, rnd)
            self.drive(running, [c for c in self.plan.clients if c != "grpc"], rnd)

    def ember(self, variant: str, rnd: int) -> None:
        """One Ember variant as ``ember serve``, after a sentence-transformers measurement."""
        self.sentence_transformers(rnd)
        name = f"ember {variant}"
        with servers.ember(name, self.model, VARIANTS[variant]) as running:
            self.start(running, rnd)
            log(
                f"{name}: SERVING after {running.to_serving_s:.2f}s, first answer "
                f"after {running.to_first_answer_s:.2f}s"
            )
            self.drive(running, self.plan.clients, rnd)
            if self.plan.profile and variant == "fp32" and rnd == 0:
                from benchmarks import profile

                short = self.workloads[1]
                self.results["profile"] = profile.profile_short(
                    running, short.texts, short.tokens, short.concurrency
                )

    def accuracy(self) -> None:
        """Cosine of every precision mode vs fp32 over the accuracy corpus."""
        from benchmarks.accuracy import MODES, measure

        texts = corpus.accuracy_corpus()[: self.plan.accuracy_texts]
        agreements = measure(self.model, texts, MODES)
        self.results["accuracy"] = [asdict(a) for a in agreements]
        for a in agreements:
            log(f"accuracy {a.mode}: min {a.min_cosine:.5f} mean {a.mean_cosine:.6f}")


def plan_sections(run: _Run) -> list[Section]:
    """The plan: rounds visiting every target (Infinity, then each Ember variant), then the
    accuracy table. Each target is its own section: a failed server costs only its numbers."""
    plan = run.plan
    sections: list[Section] = []
    if plan.infinity:
        sections.append(("infinity install", 0, servers.ensure_infinity))
    for rnd in range(plan.rounds):
        if plan.infinity:
            sections.append((f"round {rnd + 1}/infinity", 0, functools.partial(run.infinity, rnd)))
        for variant in plan.variants:
            step = functools.partial(run.ember, variant, rnd)
            sections.append((f"round {rnd + 1}/ember {variant}", 0, step))
    if plan.accuracy:
        sections.append(("accuracy", 0, run.accuracy))
    return sections


def run(model: Path, plan: Plan, out: Path) -> dict[str, Any]:
    """Measure everything ``plan`` asks for, writing the results folder ``out`` as it goes."""
    results: dict[str, Any] = {
        "kind": "cpu",
        "plan": asdict(plan),
        "meta": machine.environment("benchmarks.run"),
        "samples": [],
        "starts": [],
        "accuracy": [],
        "profile": "",
        "failures": [],
    }
    runner = Runner(out, math.inf, results)
    the_run = _Run(model, plan, results)
    runner.run_all(plan_sections(the_run))
    # Sections that failed outright (a server that never started) are failures of the run.
    for entry in results["sections"]:
        if entry["status"] == "failed":
            results["failures"].append(f"{entry['name']}: {entry.get('error', '')}")
    runner.write()  # meta's load_after: the load at the end
    return results


def _default_model() -> Path:
    from ember.service.default_model import default_model_path

    return Path(default_model_path())


def parse_plan(argv: Sequence[str] | None = None) -> tuple[Plan, Path, Path]:
    """The plan, the model folder and the results folder from the command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--model", type=Path, default=None, help="model folder (default MiniLM)")
    parser.add_argument("--quick", action="store_true", help="small counts, ~3 minutes")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 2; quick 1)")
    parser.add_argument(
        "--variants",
        default=None,
        help=f"comma-separated Ember variants from {', '.join(VARIANTS)} "
        "(default all; quick: fp32,bf16,int8)",
    )
    parser.add_argument("--clients", default=",".join(CLIENTS), help="perf-client,rest,grpc")
    parser.add_argument("--long-count", type=int, default=None, help="long requests per run")
    parser.add_argument("--short-count", type=int, default=None, help="short requests per run")
    parser.add_argument("--no-infinity", action="store_true", help="skip the Infinity peer")
    parser.add_argument("--no-accuracy", action="store_true", help="skip the accuracy table")
    parser.add_argument(
        "--no-profile", action="store_true", help="skip the py-spy profile (never in --quick)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="results folder (default benchmarks/results-<ISA>)"
    )
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    variants = tuple(
        (args.variants or ("fp32,bf16,int8" if quick else ",".join(VARIANTS))).split(",")
    )
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    clients = tuple(args.clients.split(","))
    if any(c not in CLIENTS for c in clients):
        parser.error(f"clients must be among {CLIENTS}")
    plan = Plan(
        long_count=args.long_count or (32 if quick else 384),
        short_count=args.short_count or (400 if quick else 4000),
        long_concurrency=128,
        short_concurrency=256,
        rounds=args.rounds or (1 if quick else 2),
        variants=variants,
        clients=clients,
        infinity=not args.no_infinity,
        accuracy=not args.no_accuracy,
        profile=not quick and not args.no_profile,
        accuracy_texts=64 if quick else 200,
        quick=quick,
    )
    return plan, args.model or _default_model(), args.out or default_out()


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and run the benchmark."""
    plan, model, out = parse_plan(argv)
    out.mkdir(parents=True, exist_ok=True)
    tee_output(out)
    started = time.perf_counter()
    results = run(model, plan, out)
    log(f"done in {time.perf_counter() - started:.0f}s; wrote {out / 'RESULTS.md'}")
    if results["failures"]:
        log("failures:\n  " + "\n  ".join(results["failures"]))


if __name__ == "__main__":
    main(sys.argv[1:])
