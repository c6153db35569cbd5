"""The Ray Serve options of ``ember serve`` (``--ray-address``, ``--replicas``, ``--autoscale``),
parsed without importing Ray: the deployment itself lives in :mod:`ember.service.ray_serve`."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ember.engines.config import setting


@dataclass(frozen=True)
class RaySettings:
    """Where and how many replicas of the server run on a Ray cluster."""

    ray_address: str | None = setting(
        None,
        "--ray-address",
        "EMBER_RAY_ADDRESS",
        "Serve on a Ray cluster with Ray Serve (needs `pip install 'ember-serve[ray]'`): "
        "the head's address (host:port), `auto` (the cluster this machine joined) or "
        "`local` (start one here). The cluster's HTTP proxy listens on --http-port and its "
        "gRPC proxy on --grpc-port. Unset: one server in this process.",
        "ADDR",
    )
    replicas: int = setting(
        1,
        "--replicas",
        "EMBER_REPLICAS",
        "With --ray-address: replicas, each with its own engine and scheduler.",
        "N",
        minimum=1,
    )
    autoscale: str | None = setting(
        None,
        "--autoscale",
        "EMBER_AUTOSCALE",
        "With --ray-address: MIN:MAX replicas, scaled by Ray Serve on the requests in "
        "flight per replica (target: --max-batch-requests, one engine batch). Replaces "
        "--replicas.",
        "MIN:MAX",
    )
    replica_cpus: float = setting(
        1.0,
        "--replica-cpus",
        "EMBER_REPLICA_CPUS",
        "With --ray-address: CPUs Ray reserves for each replica (set --num-threads to match).",
        "N",
        minimum=0,
    )
    replica_gpus: float = setting(
        0.0,
        "--replica-gpus",
        "EMBER_REPLICA_GPUS",
        "With --ray-address: GPUs Ray reserves for each replica (1 with --device cuda: one "
        "replica per GPU; a fraction shares one).",
        "N",
        minimum=0,
    )
    replica_grpc_port: int = setting(
        0,
        "--replica-grpc-port",
        "EMBER_REPLICA_GRPC_PORT",
        "With --ray-address: each replica's own gRPC port, which serves the batch streams "
        "(EmbedStream, ...) that Ray's proxy does not carry (0: a free one, logged).",
        "PORT",
        minimum=0,
        maximum=65535,
    )

    def scale(self) -> tuple[int, int] | None:
        """``--autoscale`` as (min, max), or None for a fixed ``--replicas`` (ValueError when
        either is malformed)."""
        if self.replicas < 1:
            raise ValueError(f"--replicas must be at least 1, got {self.replicas}")
        if self.autoscale is None:
            return None
        low, sep, high = self.autoscale.partition(":")
        if not sep or not low.strip().isdigit() or not high.strip().isdigit():
            raise ValueError(f"--autoscale wants MIN:MAX, got {self.autoscale!r}")
        bounds = int(low), int(high)
        if not 0 <= bounds[0] <= bounds[1] or bounds[1] < 1:
            raise ValueError(f"--autoscale wants 0 <= MIN <= MAX, MAX >= 1: {self.autoscale!r}")
        return bounds


def no_usage_stats_for_local_cluster(address: str | None) -> None:
    """Call before ``ray.init``. A cluster Ember starts itself (``--ray-address local``) sends
    Ray no usage statistics: Ray reports a cluster's usage to usage-stats.ray.io by default,
    and a server must not phone home (``RAY_USAGE_STATS_ENABLED=1`` in the environment still
    turns it on). A cluster Ember joins keeps its own setting."""
    if address in (None, "local"):
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
