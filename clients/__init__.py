"""Python clients for Ember: gRPC (sync and asyncio) and REST, with high-throughput batching.

>>> from ember.clients import EmberClient
>>> with EmberClient("localhost:50051") as client:
...     vectors = client.embed(["hello", "world"])      # numpy (2, dim) float32

Installs without torch: only grpcio, protobuf, numpy and httpx are needed.
"""

from ember.clients.balancing import Hedging, RetryPolicy
from ember.clients.grpc_client import AsyncEmberClient, EmberClient, EmberRpcError
from ember.clients.rest_client import EmberRestClient

__all__ = [
    "AsyncEmberClient",
    "EmberClient",
    "EmberRestClient",
    "EmberRpcError",
    "Hedging",
    "RetryPolicy",
]
