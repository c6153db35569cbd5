"""The balancing rules of the clients: targets, service config, retry timing (pure functions)."""

from __future__ import annotations

import email.utils
import json

import pytest

from ember.clients.balancing import (
    UNARY_RPCS,
    Hedging,
    RetryPolicy,
    channel_options,
    channel_target,
    retry_after_s,
    service_config,
)
from ember.v1 import classify_pb2, embed_pb2, model_pb2, rerank_pb2, token_classification_pb2


def test_one_target_is_used_as_given() -> None:
    assert channel_target("dns:///ember.internal:50051") == "dns:///ember.internal:50051"
    assert channel_target("localhost:50051") == "localhost:50051"


def test_several_targets_become_one_address_list() -> None:
    assert (
        channel_target(["127.0.0.1:5001", "127.0.0.1:5002", "127.0.0.1:5001"])
        == "ipv4:127.0.0.1:5001,127.0.0.1:5002"
    )
    assert channel_target(["[::1]:5001", "[::1]:5002"]) == "ipv6:[::1]:5001,[::1]:5002"
    # A name resolves once, to its IPv4 addresses when it has any.
    assert channel_target(["localhost:5001", "127.0.0.2:5002"]).startswith("ipv4:127.0.0.1:5001,")


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ([], "no targets"),
        (["127.0.0.1"], "not host:port"),
        (["127.0.0.1:5001", "[::1]:5002"], "mix IPv4 and IPv6"),
        (["no-such-host.invalid:5001"], "cannot resolve"),
    ],
)
def test_bad_targets_are_refused(targets: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        channel_target(targets)


def test_service_config_round_robin_and_retries_only_unary_rpcs() -> None:
    config = json.loads(service_config(RetryPolicy(max_attempts=4, initial_backoff_s=0.1)))
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    (method,) = config["methodConfig"]
    names = {(n["service"], n["method"]) for n in method["name"]}
    assert ("ember.v1.EmbedService", "Embed") in names
    assert ("grpc.health.v1.Health", "Check") in names
    assert not any(m.endswith("Stream") for _, m in names)
    assert len(names) == sum(len(m) for m in UNARY_RPCS.values())
    policy = method["retryPolicy"]
    assert policy["maxAttempts"] == 4
    assert policy["initialBackoff"] == "0.1s"
    assert policy["retryableStatusCodes"] == ["UNAVAILABLE", "RESOURCE_EXHAUSTED"]
    assert "methodConfig" not in json.loads(service_config(None))


def test_every_unary_inference_rpc_is_retried_and_no_job_or_admin_rpc() -> None:
    config = json.loads(service_config(RetryPolicy()))
    names = {(n["service"], n["method"]) for n in config["methodConfig"][0]["name"]}
    for service_name, module in (
        ("EmbedService", embed_pb2),
        ("ClassifyService", classify_pb2),
        ("RerankService", rerank_pb2),
        ("TokenClassificationService", token_classification_pb2),
        ("ModelService", model_pb2),
    ):
        service = module.DESCRIPTOR.services_by_name[service_name]
        for method in service.methods:
            streaming = method.client_streaming or method.server_streaming
            assert ((service.full_name, method.name) in names) != streaming, method.full_name
    # The unary RPCs added after the first list (EmbedTokens, Encode) are idempotent too.
    assert {("ember.v1.EmbedService", "EmbedTokens"), ("ember.v1.EmbedService", "Encode")} <= names
    assert not {s for s, _ in names} & {"ember.v1.JobService", "ember.v1.AdminService"}


def test_channel_options_keepalive_and_retry_switch() -> None:
    options = dict(channel_options(None, 30))
    assert options["grpc.enable_retries"] == 0
    assert options["grpc.keepalive_time_ms"] == 30_000
    assert "grpc.keepalive_time_ms" not in dict(channel_options(RetryPolicy(), None))
    with pytest.raises(ValueError, match="keepalive_s"):
        channel_options(None, 1)


def test_policies_validate_and_back_off_exponentially() -> None:
    policy = RetryPolicy(initial_backoff_s=0.1, max_backoff_s=0.5, multiplier=2)
    assert [policy.backoff_s(n) for n in (1, 2, 3, 4)] == [0.1, 0.2, 0.4, 0.5]
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=6)
    with pytest.raises(ValueError, match="initial_backoff_s"):
        RetryPolicy(initial_backoff_s=1, max_backoff_s=0.5)
    with pytest.raises(ValueError, match="max_attempts"):
        Hedging(max_attempts=1)


def test_retry_after_seconds_or_date() -> None:
    assert retry_after_s("2") == 2.0
    assert retry_after_s(" 0.5 ") == 0.5
    assert retry_after_s(None) is None
    assert retry_after_s("soon") is None
    date = email.utils.formatdate(1_000_010, usegmt=True)
    assert retry_after_s(date, now=1_000_000) == pytest.approx(10.0)
    assert retry_after_s(date, now=2_000_000) == 0.0


def test_server_errors_widen_what_is_retried() -> None:
    plain, wide = RetryPolicy(), RetryPolicy(server_errors=True)
    assert "INTERNAL" not in plain.grpc_codes()
    assert "INTERNAL" in wide.grpc_codes()
    assert plain.http_statuses() == {429, 503}
    assert wide.http_statuses() == {429, 500, 502, 503, 504}
    # INTERNAL is retried by the client, not the channel (a proxy commits the call early).
    (method,) = json.loads(service_config(wide))["methodConfig"]
    assert "INTERNAL" not in method["retryPolicy"]["retryableStatusCodes"]
