from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Task(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_UNSPECIFIED: _ClassVar[Task]
    TASK_EMBED: _ClassVar[Task]
    TASK_EMBED_SPARSE: _ClassVar[Task]
    TASK_CLASSIFY: _ClassVar[Task]
    TASK_RERANK: _ClassVar[Task]
    TASK_PREDICT_TOKENS: _ClassVar[Task]

class ModelKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_KIND_UNSPECIFIED: _ClassVar[ModelKind]
    MODEL_KIND_EMBEDDING: _ClassVar[ModelKind]
    MODEL_KIND_SPARSE_EMBEDDING: _ClassVar[ModelKind]
    MODEL_KIND_RERANKER: _ClassVar[ModelKind]
    MODEL_KIND_CLASSIFIER: _ClassVar[ModelKind]
    MODEL_KIND_TOKEN_CLASSIFIER: _ClassVar[ModelKind]
    MODEL_KIND_LLM_RERANKER: _ClassVar[ModelKind]
TASK_UNSPECIFIED: Task
TASK_EMBED: Task
TASK_EMBED_SPARSE: Task
TASK_CLASSIFY: Task
TASK_RERANK: Task
TASK_PREDICT_TOKENS: Task
MODEL_KIND_UNSPECIFIED: ModelKind
MODEL_KIND_EMBEDDING: ModelKind
MODEL_KIND_SPARSE_EMBEDDING: ModelKind
MODEL_KIND_RERANKER: ModelKind
MODEL_KIND_CLASSIFIER: ModelKind
MODEL_KIND_TOKEN_CLASSIFIER: ModelKind
MODEL_KIND_LLM_RERANKER: ModelKind

class GetModelInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetModelInfoResponse(_message.Message):
    __slots__ = ("model_id", "kind", "tasks", "labels", "dtype", "device", "max_input_length", "max_batch_tokens", "max_batch_requests", "max_client_batch_size", "embedding_dimensions", "prompt_names", "pooling", "backend", "architecture", "server_version")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    MAX_INPUT_LENGTH_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    MAX_CLIENT_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_NAMES_FIELD_NUMBER: _ClassVar[int]
    POOLING_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    kind: ModelKind
    tasks: _containers.RepeatedScalarFieldContainer[Task]
    labels: _containers.RepeatedScalarFieldContainer[str]
    dtype: str
    device: str
    max_input_length: int
    max_batch_tokens: int
    max_batch_requests: int
    max_client_batch_size: int
    embedding_dimensions: int
    prompt_names: _containers.RepeatedScalarFieldContainer[str]
    pooling: str
    backend: str
    architecture: str
    server_version: str
    def __init__(self, model_id: _Optional[str] = ..., kind: _Optional[_Union[ModelKind, str]] = ..., tasks: _Optional[_Iterable[_Union[Task, str]]] = ..., labels: _Optional[_Iterable[str]] = ..., dtype: _Optional[str] = ..., device: _Optional[str] = ..., max_input_length: _Optional[int] = ..., max_batch_tokens: _Optional[int] = ..., max_batch_requests: _Optional[int] = ..., max_client_batch_size: _Optional[int] = ..., embedding_dimensions: _Optional[int] = ..., prompt_names: _Optional[_Iterable[str]] = ..., pooling: _Optional[str] = ..., backend: _Optional[str] = ..., architecture: _Optional[str] = ..., server_version: _Optional[str] = ...) -> None: ...

class TokenizeRequest(_message.Message):
    __slots__ = ("inputs", "add_special_tokens", "prompt_name")
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    ADD_SPECIAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_NAME_FIELD_NUMBER: _ClassVar[int]
    inputs: _containers.RepeatedScalarFieldContainer[str]
    add_special_tokens: bool
    prompt_name: str
    def __init__(self, inputs: _Optional[_Iterable[str]] = ..., add_special_tokens: _Optional[bool] = ..., prompt_name: _Optional[str] = ...) -> None: ...

class Token(_message.Message):
    __slots__ = ("id", "text", "special", "start", "stop")
    ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SPECIAL_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    id: int
    text: str
    special: bool
    start: int
    stop: int
    def __init__(self, id: _Optional[int] = ..., text: _Optional[str] = ..., special: _Optional[bool] = ..., start: _Optional[int] = ..., stop: _Optional[int] = ...) -> None: ...

class TokenizedText(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[Token]
    def __init__(self, tokens: _Optional[_Iterable[_Union[Token, _Mapping]]] = ...) -> None: ...

class TokenizeResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[TokenizedText]
    def __init__(self, results: _Optional[_Iterable[_Union[TokenizedText, _Mapping]]] = ...) -> None: ...
