from ember.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RerankRequest(_message.Message):
    __slots__ = ("query", "texts", "raw_scores", "return_text", "top_n", "truncation")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    RAW_SCORES_FIELD_NUMBER: _ClassVar[int]
    RETURN_TEXT_FIELD_NUMBER: _ClassVar[int]
    TOP_N_FIELD_NUMBER: _ClassVar[int]
    TRUNCATION_FIELD_NUMBER: _ClassVar[int]
    query: str
    texts: _containers.RepeatedScalarFieldContainer[str]
    raw_scores: bool
    return_text: bool
    top_n: int
    truncation: _common_pb2.Truncation
    def __init__(self, query: _Optional[str] = ..., texts: _Optional[_Iterable[str]] = ..., raw_scores: _Optional[bool] = ..., return_text: _Optional[bool] = ..., top_n: _Optional[int] = ..., truncation: _Optional[_Union[_common_pb2.Truncation, _Mapping]] = ...) -> None: ...

class RankedText(_message.Message):
    __slots__ = ("index", "score", "text")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    index: int
    score: float
    text: str
    def __init__(self, index: _Optional[int] = ..., score: _Optional[float] = ..., text: _Optional[str] = ...) -> None: ...

class RerankResponse(_message.Message):
    __slots__ = ("ranks", "usage", "timing", "model")
    RANKS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    TIMING_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ranks: _containers.RepeatedCompositeFieldContainer[RankedText]
    usage: _common_pb2.Usage
    timing: _common_pb2.Timing
    model: str
    def __init__(self, ranks: _Optional[_Iterable[_Union[RankedText, _Mapping]]] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., timing: _Optional[_Union[_common_pb2.Timing, _Mapping]] = ..., model: _Optional[str] = ...) -> None: ...

class RerankStreamRequest(_message.Message):
    __slots__ = ("batch_id", "request")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    request: RerankRequest
    def __init__(self, batch_id: _Optional[str] = ..., request: _Optional[_Union[RerankRequest, _Mapping]] = ...) -> None: ...

class RerankStreamResponse(_message.Message):
    __slots__ = ("batch_id", "response", "error")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    response: RerankResponse
    error: _common_pb2.BatchError
    def __init__(self, batch_id: _Optional[str] = ..., response: _Optional[_Union[RerankResponse, _Mapping]] = ..., error: _Optional[_Union[_common_pb2.BatchError, _Mapping]] = ...) -> None: ...
