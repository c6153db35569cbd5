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
driven over REST by baseten-performance-client and an aiohttp generator, and over gRPC. Each
round visits every target in turn; with several rounds the report quotes medians. The machine
should be otherwise idle: every number shares its cores with the client and anything else.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks import corpus, loadgen, machine, servers
from benchmarks.accuracy import MODES, Agreement
from benchmarks.loadgen import Measurement

OUT = Path(__file__).resolve().parent

#: Ember variants: name -> ``ember serve`` flags.
VARIANTS: dict[str, tuple[str, ...]] = {
    # The default: backend auto = ONNX Runtime fp32 for this encoder on the CPU.
    "fp32": (),
    "bf16": ("--dtype", "bfloat16"),
    "bf16-compile": ("--dtype", "bfloat16", "--compile", "true"),
    "int8": ("--backend", "onnx", "--quantization", "int8"),
    "fp32-torch": ("--backend", "torch"),
}
CLIENTS = ("perf-client", "rest", "grpc")


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


@dataclass(frozen=True)
class Sample:
    """One measurement: a target, a workload, a client, a round."""

    target: str
    workload: str
    client: str
    round: int
    measurement: Measurement


@dataclass(frozen=True)
class ColdStart:
    """Seconds from process start to SERVING (Ember) and to the first embedding answered."""

    target: str
    round: int
    to_serving_s: float | None
    to_first_answer_s: float


@dataclass
class Results:
    """Everything one run measured."""

    plan: Plan
    model: str
    max_length: int
    long_tokens_per_request: float
    short_tokens_per_request: float
    samples: list[Sample] = field(default_factory=list)
    starts: list[ColdStart] = field(default_factory=list)
    accuracy: list[Agreement] = field(default_factory=list)
    profile: str = ""
    failures: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)

    def median(self, target: str, workload: str, client: str, metric: str) -> float | None:
        """Median over rounds of ``metric`` (a Measurement property) for one combination."""
        values: list[float] = []
        for s in self.samples:
            if (s.target, s.workload, s.client) != (target, workload, client):
                continue
            value = getattr(s.measurement, metric)
            values.append(value() if callable(value) else value)
        return statistics.median(values) if values else None

    def latency(self, target: str, workload: str, client: str, q: float) -> float | None:
        """Median over rounds of the q-th latency percentile (ms)."""
        values = [
            p
            for s in self.samples
            if (s.target, s.workload, s.client) == (target, workload, client)
            for p in [s.measurement.percentile_ms(q)]
            if p is not None
        ]
        return statistics.median(values) if values else None


def _log(message: str) -> None:
    print(f"bench [{time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass(frozen=True)
class Workload:
    """The texts of one workload and their real token count (truncated to the model limit)."""

    name: str
    texts: list[str]
    tokens: int
    concurrency: int


def _workloads(model: Path, plan: Plan) -> tuple[Workload, Workload, int]:
    from ember.engines.errors import InvalidInputError
    from ember.engines.model_folder import inspect_model_folder
    from ember.engines.tokenizer import HFTokenizer
    from ember.engines.types import TruncationSide

    tokenizer = HFTokenizer.from_folder(inspect_model_folder(model))
    max_length = min(tokenizer.max_input_length, 500)

    def length(text: str) -> int:
        try:
            return len(tokenizer.encode([text], truncate=False, side=TruncationSide.RIGHT)[0])
        except InvalidInputError:  # over the model's limit
            return max_length + 1

    def fit(text: str) -> str:
        # The longest prefix (in words) that fits the model: servers that reject over-long
        # inputs by default (Ember, TEI) and those that truncate (Infinity) see the same input.
        words = text.split()
        low, high = 1, len(words)
        while low < high:
            middle = (low + high + 1) // 2
            if length(" ".join(words[:middle])) <= max_length:
                low = middle
            else:
                high = middle - 1
        return " ".join(words[:low])

    def count(texts: list[str]) -> int:
        encodings = tokenizer.encode(texts, truncate=True, side=TruncationSide.RIGHT)
        return sum(len(e) for e in encodings)

    long_texts = [fit(t) for t in corpus.long_texts(plan.long_count, max_length)]
    short_texts = corpus.short_texts(plan.short_count)
    return (
        Workload("long", long_texts, count(long_texts), plan.long_concurrency),
        Workload("short", short_texts, count(short_texts), plan.short_concurrency),
        max_length,
    )


class _SentenceTransformers:
    """The in-process peer, loaded once and measured next to every server (interleaved), so
    its median follows the machine's drift over the run."""

    def __init__(self, model: Path) -> None:
        from sentence_transformers import SentenceTransformer

        self._st = SentenceTransformer(str(model), device="cpu")
        self._st.encode(["warm-up"] * 32, batch_size=32)

    def measure(self, workloads: Sequence[Workload], results: Results, rnd: int) -> None:
        for work in workloads:
            start = time.perf_counter()
            self._st.encode(work.texts, batch_size=32)
            wall = time.perf_counter() - start
            m = Measurement(len(work.texts), work.tokens, wall)
            results.samples.append(Sample("sentence-transformers", work.name, "in-process", rnd, m))
            _log(f"sentence-transformers {work.name}: {m.tokens_per_s:,.0f} tok/s")


def _drive(
    running: servers.Running,
    workloads: Sequence[Workload],
    clients: Sequence[str],
    results: Results,
    rnd: int,
) -> None:
    for work in workloads:
        for client in clients:
            if client == "grpc" and running.grpc_target is None:
                continue
            warmup = min(len(work.texts), work.concurrency)
            try:
                if client == "perf-client":
                    m = loadgen.perf_client(
                        running.base_url, work.texts, work.tokens, work.concurrency, warmup
                    )
                elif client == "rest":
                    m = loadgen.rest(
                        running.base_url, work.texts, work.tokens, work.concurrency, warmup
                    )
                else:
                    assert running.grpc_target is not None
                    m = loadgen.grpc_embed(
                        running.grpc_target, work.texts, work.tokens, work.concurrency, warmup
                    )
            except Exception as exc:  # one failing client must not lose the rest of the run
                results.failures.append(f"{running.name} {work.name} {client}: {exc!r}")
                _log(f"FAILED {running.name} {work.name} {client}: {exc!r}")
                continue
            if m.errors:  # a partly failed run measures the errors' speed: keep it out
                results.failures.append(
                    f"{running.name} {work.name} {client}: {m.errors} of {m.requests} "
                    "requests failed; not counted"
                )
                _log(f"FAILED {running.name} {work.name} {client}: {m.errors} errors")
                continue
            results.samples.append(Sample(running.name, work.name, client, rnd, m))
            _log(
                f"{running.name} {work.name} {client}: {m.tokens_per_s:,.0f} tok/s, "
                f"{m.requests_per_s:,.1f} req/s, p50 {m.percentile_ms(50) or 0:.1f} ms"
            )


def _guard(results: Results, what: str, step: Callable[[], None]) -> None:
    try:
        step()
    except Exception as exc:
        results.failures.append(f"{what}: {exc!r}")
        _log(f"FAILED {what}: {exc!r}")


def _round(
    model: Path, plan: Plan, workloads: tuple[Workload, Workload], results: Results, rnd: int
) -> None:
    """One visit to every target: Infinity and each Ember variant, each preceded by a
    sentence-transformers measurement."""
    peer: list[_SentenceTransformers] = []
    _guard(results, "sentence-transformers", lambda: peer.append(_SentenceTransformers(model)))

    def st() -> None:
        if peer:
            _guard(
                results, "sentence-transformers", lambda: peer[0].measure(workloads, results, rnd)
            )

    st()
    if plan.infinity and servers.infinity_available():

        def infinity() -> None:
            with servers.infinity(model) as running:
                results.starts.append(ColdStart("infinity", rnd, None, running.to_first_answer_s))
                rest_clients = [c for c in plan.clients if c != "grpc"]
                _drive(running, workloads, rest_clients, results, rnd)

        _guard(results, "infinity", infinity)
    for variant in plan.variants:
        st()

        def ember(variant: str = variant) -> None:
            name = f"ember {variant}"
            with servers.ember(name, model, VARIANTS[variant]) as running:
                results.starts.append(
                    ColdStart(name, rnd, running.to_serving_s, running.to_first_answer_s)
                )
                _log(
                    f"{name}: SERVING after {running.to_serving_s:.2f}s, first answer "
                    f"after {running.to_first_answer_s:.2f}s"
                )
                _drive(running, workloads, plan.clients, results, rnd)
                if plan.profile and variant == "fp32" and rnd == 0:
                    from benchmarks import profile

                    short = workloads[1]
                    results.profile = profile.profile_short(
                        running, short.texts, short.tokens, short.concurrency
                    )

        _guard(results, f"ember {variant}", ember)


def run(model: Path, plan: Plan, out: Path) -> Results:
    """Measure everything ``plan`` asks for and write the report files into ``out``."""
    from benchmarks import report

    long_work, short_work, max_length = _workloads(model, plan)
    workloads = (long_work, short_work)
    results = Results(
        plan,
        str(model),
        max_length,
        long_work.tokens / len(long_work.texts),
        short_work.tokens / len(short_work.texts),
        environment={
            "cpu": machine.cpu_summary(),
            "load_before": machine.load_average(),
            "versions": machine.versions(),
            "commit": machine.git_commit(),
            "date": machine.now(),
            "command": " ".join(["python -m benchmarks.run", *sys.argv[1:]]),
        },
    )
    _log(
        f"long: {len(long_work.texts)} x {results.long_tokens_per_request:.0f} tokens; "
        f"short: {len(short_work.texts)} x {results.short_tokens_per_request:.1f} tokens"
    )
    if plan.infinity:
        _guard(results, "infinity install", servers.ensure_infinity)
    for rnd in range(plan.rounds):
        _log(f"round {rnd + 1}/{plan.rounds}")
        _round(model, plan, workloads, results, rnd)
    if plan.accuracy:
        from benchmarks.accuracy import measure

        def accuracy() -> None:
            texts = corpus.accuracy_corpus()
            results.accuracy = measure(model, texts[: plan.accuracy_texts], MODES)
            for a in results.accuracy:
                _log(f"accuracy {a.mode}: min {a.min_cosine:.5f} mean {a.mean_cosine:.6f}")

        _guard(results, "accuracy", accuracy)
    results.environment["load_after"] = machine.load_average()
    report.write(results, out)
    (out / "results.json").write_text(json.dumps(_compact(results), indent=1, default=str))
    return results


def _compact(results: Results) -> dict[str, object]:
    """The run as JSON-able data, with latency percentiles instead of every latency."""
    data = asdict(results)
    for sample, raw in zip(results.samples, data["samples"], strict=True):
        m = sample.measurement
        raw["measurement"] = {
            "requests": m.requests,
            "tokens": m.tokens,
            "seconds": m.seconds,
            "tokens_per_s": m.tokens_per_s,
            "requests_per_s": m.requests_per_s,
            "p50_ms": m.percentile_ms(50),
            "p99_ms": m.percentile_ms(99),
        }
    return data


def _default_model() -> Path:
    from ember.service.default_model import default_model_path

    return Path(default_model_path())


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and run the benchmark."""
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
    parser.add_argument("--out", type=Path, default=OUT, help="where RESULTS.md etc. go")
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
    model = args.model or _default_model()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results = run(model, plan, args.out)
    _log(f"done in {time.perf_counter() - started:.0f}s; wrote {args.out / 'RESULTS.md'}")
    if results.failures:
        _log("failures:\n  " + "\n  ".join(results.failures))


if __name__ == "__main__":
    main()
