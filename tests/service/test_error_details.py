"""Every failed call carries a ``google.rpc.Status`` with an ``ErrorInfo`` (AIP-193), read here
from the ``grpc-status-details-bin`` trailer as any gRPC client reads it."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from ember.engines.errors import InvalidInputError, ModelLoadError, OverloadedError
from ember.service.error_details import DETAILS_KEY, reason_for
from ember.v1 import embed_pb2, embed_pb2_grpc, rerank_pb2, rerank_pb2_grpc

from .conftest import ServeFn, SpyEngine


def error_info(
    error: grpc.aio.AioRpcError,
) -> tuple[status_pb2.Status, error_details_pb2.ErrorInfo]:
    trailers = dict(error.trailing_metadata() or ())
    status = status_pb2.Status.FromString(trailers[DETAILS_KEY])
    info = error_details_pb2.ErrorInfo()
    assert len(status.details) == 1
    assert status.details[0].Unpack(info)
    return status, info


async def test_bad_input_carries_error_info_with_the_request_id(
    serve: ServeFn, spy: SpyEngine
) -> None:
    async with (
        serve(spy) as (_, server),
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        embed = embed_pb2_grpc.EmbedServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await embed.Embed(embed_pb2.EmbedRequest(), metadata=(("x-request-id", "rid-7"),))
        rerank = rerank_pb2_grpc.RerankServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as unsupported:
            await rerank.Rerank(rerank_pb2.RerankRequest(query="q", texts=["a"]))

    status, info = error_info(bad.value)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert status.message == bad.value.details()
    assert (info.reason, info.domain) == ("INVALID_INPUT", "ember")
    assert info.metadata["request_id"] == "rid-7"
    # the request id echo is still a trailer of its own, once
    echoes = [v for k, v in bad.value.trailing_metadata() or () if k == "x-request-id"]
    assert echoes == ["rid-7"]

    _, info = error_info(unsupported.value)
    assert unsupported.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert info.reason == "UNSUPPORTED_TASK"
    assert len(info.metadata["request_id"]) == 32  # made by the server


def test_reasons_follow_the_most_derived_class() -> None:
    assert reason_for(InvalidInputError("x")) == "INVALID_INPUT"
    assert reason_for(OverloadedError("x")) == "OVERLOADED"
    assert reason_for(ModelLoadError("x")) == "MODEL_LOAD_FAILED"
    assert reason_for(RuntimeError("x")) == "INTERNAL"
