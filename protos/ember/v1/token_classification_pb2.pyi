from ember.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AggregationStrategy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGGREGATION_STRATEGY_UNSPECIFIED: _ClassVar[AggregationStrategy]
    AGGREGATION_STRATEGY_NONE: _ClassVar[AggregationStrategy]
    AGGREGATION_STRATEGY_SIMPLE: _ClassVar[AggregationStrategy]
    AGGREGATION_STRATEGY_FIRST: _ClassVar[AggregationStrategy]
    AGGREGATION_STRATEGY_AVERAGE: _ClassVar[AggregationStrategy]
    AGGREGATION_STRATEGY_MAX: _ClassVar[AggregationStrategy]
AGGREGATION_STRATEGY_UNSPECIFIED: AggregationStrategy
AGGREGATION_STRATEGY_NONE: AggregationStrategy
AGGREGATION_STRATEGY_SIMPLE: AggregationStrategy
AGGREGATION_STRATEGY_FIRST: AggregationStrategy
AGGREGATION_STRATEGY_AVERAGE: AggregationStrategy
AGGREGATION_STRATEGY_MAX: AggregationStrategy

class PredictTokensRequest(_message.Message):
    __slots__ = ("inputs", "raw_scores", "truncation", "aggregation_strategy")
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    RAW_SCORES_FIELD_NUMBER: _ClassVar[int]
    TRUNCATION_FIELD_NUMBER: _ClassVar[int]
    AGGREGATION_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    inputs: _containers.RepeatedScalarFieldContainer[str]
    raw_scores: bool
    truncation: _common_pb2.Truncation
    aggregation_strategy: AggregationStrategy
    def __init__(self, inputs: _Optional[_Iterable[str]] = ..., raw_scores: _Optional[bool] = ..., truncation: _Optional[_Union[_common_pb2.Truncation, _Mapping]] = ..., aggregation_strategy: _Optional[_Union[AggregationStrategy, str]] = ...) -> None: ...

class TokenPrediction(_message.Message):
    __slots__ = ("token", "token_id", "start", "end", "results")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    token: str
    token_id: int
    start: int
    end: int
    results: _containers.RepeatedCompositeFieldContainer[_common_pb2.LabelScore]
    def __init__(self, token: _Optional[str] = ..., token_id: _Optional[int] = ..., start: _Optional[int] = ..., end: _Optional[int] = ..., results: _Optional[_Iterable[_Union[_common_pb2.LabelScore, _Mapping]]] = ...) -> None: ...

class TokenPredictions(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[TokenPrediction]
    def __init__(self, tokens: _Optional[_Iterable[_Union[TokenPrediction, _Mapping]]] = ...) -> None: ...

class PredictTokensResponse(_message.Message):
    __slots__ = ("results", "usage", "timing", "model")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    TIMING_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[TokenPredictions]
    usage: _common_pb2.Usage
    timing: _common_pb2.Timing
    model: str
    def __init__(self, results: _Optional[_Iterable[_Union[TokenPredictions, _Mapping]]] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., timing: _Optional[_Union[_common_pb2.Timing, _Mapping]] = ..., model: _Optional[str] = ...) -> None: ...

class PredictTokensStreamRequest(_message.Message):
    __slots__ = ("batch_id", "request")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    request: PredictTokensRequest
    def __init__(self, batch_id: _Optional[str] = ..., request: _Optional[_Union[PredictTokensRequest, _Mapping]] = ...) -> None: ...

class PredictTokensStreamResponse(_message.Message):
    __slots__ = ("batch_id", "response", "error")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    response: PredictTokensResponse
    error: _common_pb2.BatchError
    def __init__(self, batch_id: _Optional[str] = ..., response: _Optional[_Union[PredictTokensResponse, _Mapping]] = ..., error: _Optional[_Union[_common_pb2.BatchError, _Mapping]] = ...) -> None: ...
