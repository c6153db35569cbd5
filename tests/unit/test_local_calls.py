"""In-process calls (no server): LocalCalls' status errors and deadline, and the gateway's
Upstream using them, including a caller that disconnects mid-call."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from ember.engines.errors import InvalidInputError
from ember.gateway import errors
from ember.gateway.upstream import Rpc, Upstream
from ember.service.interceptors import ServiceInterceptor
from ember.service.local import LocalCalls, LocalRpcError
from ember.v1 import embed_pb2

PATH = "/ember.v1.EmbedService/Embed"


def _calls(behavior: Any) -> LocalCalls:
    return LocalCalls({PATH: ServiceInterceptor(False).wrap_unary(PATH, behavior)})


async def test_answer_and_request_id() -> None:
    seen: list[Any] = []

    async def embed(request: Any, context: Any) -> Any:
        seen.append(context.invocation_metadata())
        return embed_pb2.EmbedResponse(model="m")

    answer = await _calls(embed).call(PATH, embed_pb2.EmbedRequest(), timeout=5, request_id="r1")
    assert answer.model == "m"
    assert seen == [(("x-request-id", "r1"),)]


async def test_domain_errors_become_status_errors() -> None:
    async def embed(request: Any, context: Any) -> Any:
        raise InvalidInputError("input 0 is empty")

    with pytest.raises(LocalRpcError) as failed:
        await _calls(embed).call(PATH, embed_pb2.EmbedRequest(), timeout=None, request_id="")
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert failed.value.details() == "input 0 is empty"
    assert isinstance(failed.value, grpc.RpcError)


async def test_deadline_cancels_the_call() -> None:
    cancelled = asyncio.Event()

    async def embed(request: Any, context: Any) -> Any:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(LocalRpcError) as failed:
        await _calls(embed).call(PATH, embed_pb2.EmbedRequest(), timeout=0.05, request_id="")
    assert failed.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert cancelled.is_set()


async def test_unknown_method_is_unimplemented() -> None:
    calls = LocalCalls({})
    assert PATH not in calls
    with pytest.raises(LocalRpcError) as failed:
        await calls.call(PATH, embed_pb2.EmbedRequest(), timeout=None, request_id="")
    assert failed.value.code() == grpc.StatusCode.UNIMPLEMENTED


class _Channel:
    def unary_unary(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a direct call must not use the channel")


async def _upstream(behavior: Any) -> tuple[Upstream, Rpc[Any, Any]]:
    upstream = Upstream("127.0.0.1:1", _calls(behavior))
    rpc: Rpc[Any, Any] = Rpc.__new__(Rpc)
    rpc.path = PATH
    rpc.callable = _Channel().unary_unary
    return upstream, rpc


async def test_upstream_maps_direct_call_errors_like_grpc_errors() -> None:
    async def embed(request: Any, context: Any) -> Any:
        raise InvalidInputError("bad input 3")

    upstream, rpc = await _upstream(embed)
    with pytest.raises(errors.ApiError) as failed:
        await upstream.call(rpc, embed_pb2.EmbedRequest(), timeout=5, request_id="x")
    assert failed.value.kind is errors.VALIDATION
    assert failed.value.message == "bad input 3"


async def test_caller_gone_cancels_the_direct_call() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def embed(request: Any, context: Any) -> Any:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    gone = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await gone.wait()
        return {"type": "http.disconnect"}

    upstream, rpc = await _upstream(embed)
    call = asyncio.ensure_future(
        upstream.call(rpc, embed_pb2.EmbedRequest(), timeout=5, request_id="x", receive=receive)
    )
    await started.wait()
    gone.set()
    with pytest.raises(errors.ApiError) as failed:
        await call
    assert failed.value.kind is errors.CLIENT_CLOSED
    assert cancelled.is_set()
