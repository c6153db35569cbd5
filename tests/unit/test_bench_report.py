"""The benchmark harness's pure parts: measurements, the report writer (Markdown, JSON, chart)
for CPU and GPU results, the machine record, the plans' wiring, the profile summary and the
workload corpus (no servers, no models, seconds)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks import corpus, profile
from benchmarks import run as cpu_run
from benchmarks.harness import machine, report, runner
from benchmarks.harness.loadgen import HttpConnection, Measurement, Tally, drive, rest_body


def _sample(target: str, workload: str, client: str, tokens: int, seconds: float) -> dict[str, Any]:
    m = Measurement(10, tokens, seconds, (0.01, 0.02, 0.03, 0.04))
    return cpu_run._sample(target, workload, client, 0, m)


def _cpu_results(isa: str = "avx512-vnni") -> dict[str, Any]:
    plan, _, _ = cpu_run.parse_plan(["--quick", "--variants", "fp32,bf16,int8", "--out", "x"])
    return {
        "kind": "cpu",
        "plan": cpu_run.asdict(plan),
        "meta": {"cpu": f"ISA class **{isa}**; test CPU; 2 vCPUs", "isa": isa},
        "model": "/model",
        "max_length": 256,
        "long_tokens_per_request": 256.0,
        "short_tokens_per_request": 5.0,
        "samples": [
            _sample("sentence-transformers", "long", "in-process", 1000, 1.0),
            _sample("sentence-transformers", "short", "in-process", 50, 1.0),
            _sample("infinity", "long", "perf-client", 1000, 1.0),
            _sample("infinity", "short", "perf-client", 50, 0.5),  # 20 req/s
            _sample("ember fp32", "long", "perf-client", 1200, 1.0),
            _sample("ember fp32", "short", "perf-client", 50, 0.2),  # 50 req/s
            _sample("ember fp32", "short", "grpc", 50, 0.1),
            _sample("ember bf16", "long", "perf-client", 2000, 1.0),
            _sample("ember bf16", "short", "perf-client", 50, 0.5),
            _sample("ember int8", "long", "perf-client", 1600, 1.0),
        ],
        "starts": [
            {"target": "ember fp32", "round": 0, "to_serving_s": 2.5, "to_first_answer_s": 2.6}
        ],
        "accuracy": [
            {"mode": "bf16", "min_cosine": 0.9995, "mean_cosine": 0.9999, "texts": 200},
            {"mode": "onnx-fp32", "min_cosine": 1.0, "mean_cosine": 1.0, "texts": 200},
            {"mode": "onnx-int8", "min_cosine": 0.995, "mean_cosine": 0.999, "texts": 200},
        ],
        "profile": "",
        "failures": [],
    }


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


def test_fixed_list_sends_every_input_exactly_once() -> None:
    sent: list[int] = []

    async def send(worker: int, index: int) -> str | None:
        await asyncio.sleep(0)
        sent.append(index)
        return None if index % 5 else "HTTP 503"

    tally = Tally()
    asyncio.run(drive(send, concurrency=4, tally=tally, count=23))
    assert sorted(sent) == list(range(23))
    assert (tally.ok, tally.errors, len(tally.latencies)) == (18, 5, 18)
    assert tally.error_sample == "HTTP 503"


def test_http_connection_reopens_a_keep_alive_connection_the_server_closed() -> None:
    async def main() -> list[int]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(2)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
            writer.close()  # as a server whose keep-alive timeout passed

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        connection = HttpConnection("127.0.0.1", port)
        raw = HttpConnection.request("127.0.0.1", port, "/v1/embeddings", b"{}")
        statuses = [(await connection.post(raw))[0] for _ in range(3)]
        connection.close()
        server.close()
        return statuses

    assert asyncio.run(main()) == [200, 200, 200]


def test_rest_body_of_a_text_and_of_token_ids() -> None:
    assert json.loads(rest_body("hi")) == {"input": ["hi"], "model": "bench"}
    assert json.loads(rest_body([5, 6], encoding_format="base64")) == {
        "input": [5, 6],
        "model": "bench",
        "encoding_format": "base64",
    }


def test_cpu_report_ratios_verdicts_and_chart(tmp_path: Path) -> None:
    (tmp_path / "analysis.md").write_text("## Analysis\n\nhand-written words\n")
    report.write(tmp_path, _cpu_results())
    text = (tmp_path / "RESULTS.md").read_text()
    # fp32: 1200 / 1000 tok/s = 1.20x sentence-transformers, goal 1.1x -> met.
    assert "| fp32 long-input throughput | ≥ 1.1× ST, min cos ≥ 0.9999 | 1.20×" in text
    # bf16: 2.00x of a 2.5x goal -> 80 % of the goal, not met.
    assert "2.00×, min cosine 0.99950 (80 % of the goal) | **no** |" in text
    # int8 on a VNNI CPU: 1.60x of 2.5x.
    assert "| int8 long-input throughput | ≥ 2.5× ST, min cos ≥ 0.99 | 1.60×" in text
    # Short requests: 50 vs 20 req/s = 2.5x Infinity -> met; bf16 1.0x -> not met.
    assert "| ember fp32 5-token req/s | ≥ 2.0× Infinity | 2.50× | yes |" in text
    assert (
        "| ember bf16 5-token req/s | ≥ 2.0× Infinity | 1.00× (50 % of the goal) | **no** |" in text
    )
    assert "| fp32 cold start to SERVING | < 3.0 s | 2.50 s | yes |" in text
    assert text.rstrip().endswith("hand-written words")  # the analysis is appended unchanged
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["samples"][4]["measurement"]["tokens_per_s"] == 1200.0

    assert (tmp_path / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![throughput](results.png)" in text


def test_int8_goal_is_lower_without_vnni(tmp_path: Path) -> None:
    report.write(tmp_path, _cpu_results(isa="avx2"))
    text = (tmp_path / "RESULTS.md").read_text()
    assert "| int8 long-input throughput | ≥ 1.5× ST, min cos ≥ 0.99 | 1.60×" in text


def test_cpu_chart_panels_put_ember_and_peers_side_by_side() -> None:
    from benchmarks import report as cpu_report

    title, panels = cpu_report.panels(_cpu_results())
    assert "test CPU" in title
    long_panel = {b.label: b for b in panels[0].bars}
    assert long_panel["sentence-transformers"].value == 1000.0
    assert not long_panel["infinity"].ember
    assert long_panel["Ember bf16"].ember
    assert long_panel["Ember bf16"].value == 2000.0


#: The H100 run of 2026-11-26 (an older file: no "kind", its sections say GPU).
H100_RUN = Path(__file__).parents[2] / "benchmarks/results-gpu/results.json"


def test_gpu_report_regenerated_from_json(tmp_path: Path) -> None:
    out = tmp_path / "results-gpu"
    report.main(["--from-json", str(H100_RUN), "-o", str(out)])
    text = (out / "RESULTS.md").read_text()
    assert "NVIDIA H100" in text
    assert "| 4B: FP8 tokens/s >= 1.6x bf16 | 1.33x | missed |" in text
    assert "77,270" in text  # packed bf16 tok/s on the 4B shape
    assert json.loads((out / "results.json").read_text())["meta"]["mode"] == "full"
    assert (out / "results.png").read_bytes()[:4] == b"\x89PNG"
    before = (out / "RESULTS.md").read_text()
    report.main([str(out)])  # regenerating a folder from its own JSON changes nothing
    assert (out / "RESULTS.md").read_text() == before


def test_gpu_chart_panels_put_ember_and_peers_side_by_side() -> None:
    from benchmarks.gpu import report as gpu_report

    title, panels = gpu_report.panels(json.loads(H100_RUN.read_text()))
    assert "H100" in title
    long_panel = {b.label: b for b in panels[0].bars}
    assert round(long_panel["Ember packed-bf16"].value) == 77_270
    assert not long_panel["sentence-transformers"].ember
    assert any(b.label == "Ember packed-bf16 REST" for b in panels[1].bars)


def test_unknown_results_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown results kind"):
        report.kind_of({"kind": "tpu"})


def test_machine_record_names_isa_load_command_and_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.argv", ["run", "--quick"])
    env = machine.environment("benchmarks.run")
    assert env["command"] == "python -m benchmarks.run --quick"
    assert f"ISA class **{env['isa']}**" in env["cpu"]
    assert env["load_before"].count("/") == 2
    assert env["commit"] != ""
    assert machine.results_kind("avx512-vnni") == "avx512"
    assert machine.results_kind("avx2") == "avx2"
    assert machine.results_kind("amx") == "amx"


def test_cpu_quick_plan_is_wired_to_the_harness() -> None:
    plan, _, out = cpu_run.parse_plan(["--quick", "--no-infinity"])
    assert (plan.quick, plan.rounds, plan.profile) == (True, 1, False)
    assert plan.variants == ("fp32", "bf16", "int8")
    assert out == cpu_run.default_out()
    assert out.name == f"results-{machine.results_kind(machine.isa_class())}"

    class _Stub:  # the plan's shape only: no workload, model or server is built
        def __init__(self) -> None:
            self.plan = plan

        def ember(self, variant: str, rnd: int) -> None: ...
        def infinity(self, rnd: int) -> None: ...
        def accuracy(self) -> None: ...

    names = [name for name, _, _ in cpu_run.plan_sections(_Stub())]  # type: ignore[arg-type]
    assert names == ["round 1/ember fp32", "round 1/ember bf16", "round 1/ember int8", "accuracy"]


def test_gpu_plan_is_importable_and_lists_every_section() -> None:
    from benchmarks.gpu import run as gpu_run

    names = [name for name, _, _ in gpu_run.plan_sections(None)]  # type: ignore[arg-type]
    assert names[0] == "env"
    assert {"peaks", "parity", "qwen3-4b/engine", "qwen3-4b/server", "mixed"} <= set(names)
    assert gpu_run.TINY_PLAN.deadline_s < gpu_run.Plan().deadline_s


def test_runner_writes_after_every_section_and_keeps_failures(tmp_path: Path) -> None:
    results: dict[str, Any] = _cpu_results()
    results["samples"] = []
    steps = runner.Runner(tmp_path, 60.0, results)

    def boom() -> None:
        raise RuntimeError("server did not start")

    def measure() -> None:
        assert (tmp_path / "results.json").is_file()  # written after the failed section
        results["samples"].append(_sample("ember fp32", "long", "perf-client", 1200, 1.0))

    steps.run_all([("one", 0, boom), ("two", 0, measure), ("three", 0, measure)], skip="three")
    saved = json.loads((tmp_path / "results.json").read_text())
    assert [(s["name"], s["status"]) for s in saved["sections"]] == [
        ("one", "failed"),
        ("two", "ok"),
    ]
    assert "server did not start" in saved["sections"][0]["error"]
    assert len(saved["samples"]) == 1


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
