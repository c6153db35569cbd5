"""The CPU benchmark's pure parts: measurements, the report's ratios and verdicts, the profile
summary and the workload corpus (no servers, no models)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import corpus, profile, report
from benchmarks.accuracy import Agreement
from benchmarks.loadgen import Measurement
from benchmarks.run import ColdStart, Plan, Results, Sample


def _results() -> Results:
    plan = Plan(4, 8, 2, 4, 1, ("fp32", "bf16"), ("perf-client", "grpc"), True, True, False)
    results = Results(plan, "/model", 256, 256.0, 5.0, environment={"cpu": "test CPU"})

    def add(target: str, workload: str, client: str, tokens: int, seconds: float) -> None:
        m = Measurement(10, tokens, seconds, (0.01, 0.02, 0.03, 0.04))
        results.samples.append(Sample(target, workload, client, 0, m))

    add("sentence-transformers", "long", "in-process", 1000, 1.0)
    add("sentence-transformers", "short", "in-process", 50, 1.0)
    add("infinity", "long", "perf-client", 1000, 1.0)
    add("infinity", "short", "perf-client", 50, 0.5)  # 20 req/s
    add("ember fp32", "long", "perf-client", 1200, 1.0)
    add("ember fp32", "short", "perf-client", 50, 0.2)  # 50 req/s
    add("ember fp32", "short", "grpc", 50, 0.1)
    add("ember bf16", "long", "perf-client", 2000, 1.0)
    add("ember bf16", "short", "perf-client", 50, 0.5)
    results.starts.append(ColdStart("ember fp32", 0, 2.5, 2.6))
    results.accuracy.append(Agreement("bf16", 0.9995, 0.9999, 200))
    results.accuracy.append(Agreement("onnx-fp32", 1.0, 1.0, 200))
    return results


def test_measurement_rates_and_percentiles() -> None:
    m = Measurement(4, 100, 2.0, (0.001, 0.002, 0.003, 0.100))
    assert m.requests_per_s == 2.0
    assert m.tokens_per_s == 50.0
    p50 = m.percentile_ms(50)
    p99 = m.percentile_ms(99)
    assert p50 is not None
    assert p99 is not None
    assert 2.0 <= p50 <= 3.0
    assert p99 > 90.0
    assert Measurement(1, 1, 1.0).percentile_ms(50) is None


def test_report_ratios_and_verdicts(tmp_path: Path) -> None:
    results = _results()
    report.write(results, tmp_path)
    text = (tmp_path / "RESULTS.md").read_text()
    # fp32: 1200 / 1000 tok/s = 1.20x sentence-transformers, goal 1.0x -> met.
    assert "| fp32 long-input throughput | ≥ 1.0× ST, min cos ≥ 0.9999 | 1.20×" in text
    # bf16: 2.00x of a 2.5x goal -> 80 % of the goal, not met.
    assert "2.00×, min cosine 0.99950 (80 % of the goal) | **no** |" in text
    # Short requests: 50 vs 20 req/s = 2.5x Infinity -> met; bf16 1.0x -> not met.
    assert "| ember fp32 5-token req/s | ≥ 2.0× Infinity | 2.50× | yes |" in text
    assert (
        "| ember bf16 5-token req/s | ≥ 2.0× Infinity | 1.00× (50 % of the goal) | **no** |" in text
    )
    assert "| fp32 cold start to SERVING | < 3.0 s | 2.50 s | yes |" in text

    pytest.importorskip("matplotlib")  # the bench extra; the chart is skipped without it
    assert (tmp_path / "results.png").stat().st_size > 1000


def test_profile_summary_groups_samples_by_area() -> None:
    raw = "\n".join(
        [
            "main (a.py:1);forward (torch/nn/modules/linear.py:10) 60",
            "main (a.py:1);handle (gateway/app.py:5);dumps (json.py:1) 30",
            "run (asyncio/events.py:80) 10",
        ]
    )
    text = profile.summarise(raw)
    assert "100 samples" in text
    assert "| model forward (torch / onnxruntime) | 60.0 % |" in text
    assert "| REST gateway (fastapi, uvicorn, json) | 30.0 % |" in text
    assert "| asyncio event loop | 10.0 % |" in text


@pytest.mark.parametrize("count", [1, 37])
def test_workload_texts_are_distinct_and_deterministic(count: int) -> None:
    assert corpus.short_texts(count) == corpus.short_texts(count)
    assert len(set(corpus.short_texts(count))) == count
    assert len(set(corpus.long_texts(count, 256))) == count
    assert all(len(t.split()) >= 256 // 2 for t in corpus.long_texts(count, 256))
