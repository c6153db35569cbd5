"""The Ray Serve options: scale parsing and the deployment options derived from the settings."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ember.service.cli import main, parse_serve_settings
from ember.service.ray_settings import RaySettings, no_usage_stats_for_local_cluster


def test_scale_is_fixed_or_min_max() -> None:
    assert RaySettings(replicas=3).scale() is None
    assert RaySettings(autoscale="1:4").scale() == (1, 4)
    assert RaySettings(autoscale="0:2").scale() == (0, 2)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (RaySettings(replicas=0), "--replicas"),
        (RaySettings(autoscale="4"), "MIN:MAX"),
        (RaySettings(autoscale="a:b"), "MIN:MAX"),
        (RaySettings(autoscale="3:1"), "MIN <= MAX"),
        (RaySettings(autoscale="0:0"), "MAX >= 1"),
    ],
)
def test_bad_scale_is_refused(settings: RaySettings, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        settings.scale()


def test_deployment_options_follow_the_server_settings() -> None:
    ray_serve = pytest.importorskip("ember.service.ray_serve")
    server, _, ray = parse_serve_settings(
        ["--autoscale", "1:3", "--max-batch-requests", "8", "--max-concurrent-requests", "100"],
        env={},
    )
    options = ray_serve.deployment_options(server, ray)
    assert options["autoscaling_config"]["min_replicas"] == 1
    assert options["autoscaling_config"]["max_replicas"] == 3
    assert options["autoscaling_config"]["target_ongoing_requests"] == 8
    # Ray's cap sits above Ember's admission: overload is answered 429 / RESOURCE_EXHAUSTED.
    assert options["max_ongoing_requests"] > server.max_concurrent_requests
    assert "num_replicas" not in options
    server, _, ray = parse_serve_settings(
        ["--replicas", "2", "--replica-cpus", "2", "--replica-gpus", "1"], env={}
    )
    fixed = ray_serve.deployment_options(server, ray)
    assert fixed["num_replicas"] == 2
    assert fixed["ray_actor_options"] == {"num_cpus": 2.0, "num_gpus": 1.0}


def test_every_unary_rpc_has_a_replica_method() -> None:
    ray_serve = pytest.importorskip("ember.service.ray_serve")
    for name, path in ray_serve._PATHS.items():
        assert callable(getattr(ray_serve.EmberReplica, name)), path
        assert not name.endswith("Stream")


def test_serve_run_builder_takes_the_serve_flags() -> None:
    ray_serve = pytest.importorskip("ember.service.ray_serve")
    from ray.serve import Application

    application = ray_serve.app({"autoscale": "1:2", "max_batch_requests": "4"})
    assert isinstance(application, Application)
    with pytest.raises(SystemExit):
        ray_serve.app({"no-such-flag": "1"})


class _StopError(Exception):
    """Raised by the stand-in for ray.init once it has seen the environment."""


@pytest.mark.parametrize(
    ("command", "address", "expected"),
    [
        ("serve", "local", "0"),
        ("batch", "local", "0"),
        ("serve", "10.0.0.1:6379", None),  # joined: the cluster's own setting
        ("batch", "10.0.0.1:6379", None),
    ],
)
def test_a_cluster_ember_starts_sends_ray_no_usage_stats(
    command: str,
    address: str,
    expected: str | None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """``ember serve|batch --ray-address local`` starts Ray with its usage statistics off
    (Ray's default is to report a cluster's usage to usage-stats.ray.io)."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    seen: list[str | None] = []

    def init(*_args: object, **_kwargs: object) -> None:
        seen.append(os.environ.get("RAY_USAGE_STATS_ENABLED"))
        raise _StopError

    monkeypatch.delenv("RAY_USAGE_STATS_ENABLED", raising=False)
    monkeypatch.setattr(ray, "init", init)
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"doc_id": 1, "text": "a"}) + "\n")
    argv = {
        "serve": ["serve", "--ray-address", address],
        "batch": ["batch", str(source), str(tmp_path / "out"), "--ray-address", address],
    }[command]
    with pytest.raises(_StopError):
        main(argv)
    assert seen == [expected]


def test_an_explicit_usage_stats_setting_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "1")
    no_usage_stats_for_local_cluster("local")
    assert os.environ["RAY_USAGE_STATS_ENABLED"] == "1"
