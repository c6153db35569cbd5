"""``ember batch``'s own options (the model and engine options are ``ember serve``'s) and the
task they select. Light imports only: the ``ember`` command parser imports this module."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field

from ember.engines.config import setting
from ember.engines.ner import AggregationStrategy
from ember.engines.quantize import Precision, check_ranges
from ember.engines.types import FloatArray, ModelInfo, Task
from ember.service.bulk.errors import BatchError
from ember.service.bulk.ranges import load_ranges, ranges_digest


def _opt(flag: str, env: str, help_text: str, metavar: str | None = None) -> dict[str, str]:
    meta = {"flag": flag, "env": env, "help": help_text}
    if metavar:
        meta["metavar"] = metavar
    return meta


class BulkTask(enum.Enum):
    """The tasks ``ember batch`` runs (``auto``: the one the model serves)."""

    AUTO = "auto"
    EMBED = "embed"
    EMBED_SPARSE = "embed-sparse"
    CLASSIFY = "classify"
    RERANK = "rerank"
    NER = "ner"


_ENGINE_TASK = {
    BulkTask.EMBED: Task.EMBED,
    BulkTask.EMBED_SPARSE: Task.EMBED_SPARSE,
    BulkTask.CLASSIFY: Task.CLASSIFY,
    BulkTask.RERANK: Task.RERANK,
    BulkTask.NER: Task.PREDICT_TOKENS,
}
#: ``auto`` for a model serving several tasks (a cross-encoder classifies and reranks).
_AUTO_ORDER = (Task.EMBED, Task.EMBED_SPARSE, Task.RERANK, Task.CLASSIFY, Task.PREDICT_TOKENS)


@dataclass(frozen=True)
class TaskOptions:
    """The task and its options, as ``ember batch`` flags set them."""

    task: BulkTask = BulkTask.AUTO
    column: str = "text"
    pair_column: str | None = None
    query_column: str = "query"
    normalize: bool = True
    dimensions: int | None = None
    prompt_name: str | None = None
    truncate: bool = True
    raw_scores: bool = False
    aggregation: AggregationStrategy = AggregationStrategy.SIMPLE
    precision: Precision = Precision.FLOAT32
    #: int8/uint8: the file of the ranges to quantize with (``--ranges``).
    ranges_path: str | None = None
    #: Filled in by :func:`resolve` from the model.
    resolved: BulkTask | None = field(default=None, compare=False)
    #: The ``(2, dim)`` [min; max]: given as values (a server job), or filled in by
    #: :func:`resolve` from ``ranges_path``.
    ranges: FloatArray | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        """The task's name (after :func:`resolve`, never ``auto``)."""
        return (self.resolved or self.task).value

    def describe(self) -> dict[str, object]:
        """Everything that decides the output's values, for the output's manifest."""
        return {
            "task": self.name,
            "columns": self.text_columns,
            "normalize": self.normalize,
            "dimensions": self.dimensions,
            "prompt_name": self.prompt_name,
            "truncate": self.truncate,
            "raw_scores": self.raw_scores,
            "aggregation": self.aggregation.value,
            "output_precision": self.precision.value,
            "ranges_sha256": None if self.ranges is None else ranges_digest(self.ranges),
        }

    @property
    def text_columns(self) -> list[str]:
        """The input columns this task reads, all text."""
        task = self.resolved or self.task
        if task is BulkTask.RERANK:
            return [self.query_column, self.column]
        if task is BulkTask.CLASSIFY and self.pair_column is not None:
            return [self.column, self.pair_column]
        return [self.column]


@dataclass(frozen=True)
class OptionNames:
    """How an error names the output options: ``ember batch``'s flags or a job's fields."""

    precision: str
    ranges: str
    #: What the ranges are, in the words of the interface that takes them.
    ranges_form: str


FLAGS = OptionNames(
    "--precision",
    "--ranges",
    "--ranges PATH: the per-dimension [min; max] (a .npy or JSON of shape (2, dimensions))",
)


def resolve(options: TaskOptions, info: ModelInfo, names: OptionNames = FLAGS) -> TaskOptions:
    """``options`` with the task decided (``auto``) and checked against the model; ``names``:
    how errors name the precision and ranges options."""
    task = options.task
    if task is BulkTask.AUTO:
        engine_task = next(t for t in _AUTO_ORDER if t in info.tasks)
        task = next(b for b, t in _ENGINE_TASK.items() if t is engine_task)
    elif _ENGINE_TASK[task] not in info.tasks:
        served = sorted(b.value for b, t in _ENGINE_TASK.items() if t in info.tasks)
        raise BatchError(
            f"the model {info.model_id} ({info.kind.value}) cannot run task {task.value}; "
            f"it runs: {', '.join(served)}",
            field="task",
        )
    if options.pair_column is not None and task is not BulkTask.CLASSIFY:
        raise BatchError("--pair-column applies to task classify only", field="pair_column")
    ranges = _ranges(options, task, options.dimensions or info.embedding_dim, names)
    return dataclasses.replace(options, resolved=task, ranges=ranges)


def _ranges(
    options: TaskOptions, task: BulkTask, dimensions: int, names: OptionNames
) -> FloatArray | None:
    """The ranges the precision needs (int8/uint8: read from ``ranges_path``, else
    ``options.ranges`` as given, checked; others: none)."""
    precision = options.precision
    if precision is not Precision.FLOAT32 and task is not BulkTask.EMBED:
        raise BatchError(
            f"{names.precision} {precision.value} applies to task embed only, not {task.value}",
            field="precision",
        )
    given = options.ranges is not None or options.ranges_path is not None
    if not precision.scalar:
        if given:
            raise BatchError(
                f"{names.ranges} applies to {names.precision} int8 and uint8 only, not "
                f"{precision.value}",
                field="ranges",
            )
        return None
    if options.ranges_path is not None:
        return load_ranges(options.ranges_path, dimensions)
    if options.ranges is None:
        # Ranges computed over each part would differ from part to part: refuse, don't guess.
        raise BatchError(
            f"{names.precision} {precision.value} needs {names.ranges_form} calibrated on "
            "your corpus, so that every part is quantized alike",
            field="ranges",
        )
    check_ranges(options.ranges, dimensions)
    return options.ranges


#: ``ember serve`` options that mean nothing without a server.
SERVER_ONLY = frozenset(
    {
        "models_file",
        "served_model_name",
        "enable_admin",
        "grpc_host",
        "grpc_port",
        "max_client_batch_size",
        "max_concurrent_requests",
        "max_message_bytes",
        "auto_truncate",
        "shutdown_grace_s",
        "gil_switch_interval_ms",
        "access_log",
    }
)


@dataclass(frozen=True)
class BatchSettings:
    """What ``ember batch`` computes from which columns, and how it writes and reports it."""

    task: BulkTask = setting(
        BulkTask.AUTO,
        "--task",
        "EMBER_BATCH_TASK",
        "auto (the task the model serves), embed, embed-sparse, classify, rerank or ner.",
        "TASK",
    )
    column: str = setting(
        "text",
        "--column",
        "EMBER_BATCH_COLUMN",
        "The input column of texts (for rerank: the texts scored against --query-column).",
        "NAME",
    )
    pair_column: str | None = setting(
        None,
        "--pair-column",
        "EMBER_BATCH_PAIR_COLUMN",
        "classify: a second text column; each row is then classified as a (text, pair) pair.",
        "NAME",
    )
    query_column: str = setting(
        "query",
        "--query-column",
        "EMBER_BATCH_QUERY_COLUMN",
        "rerank: the column of queries (consecutive rows sharing a query are scored in one call).",
        "NAME",
    )
    id_column: str | None = setting(
        None,
        "--id-column",
        "EMBER_BATCH_ID_COLUMN",
        "An input column copied to the output under its own name. Unset: the output has a "
        "`row` column, each row's position in the input (from 0).",
        "NAME",
    )
    normalize: bool = setting(
        True, "--normalize", "EMBER_BATCH_NORMALIZE", "embed: L2-normalize the vectors.", "BOOL"
    )
    dimensions: int | None = setting(
        None,
        "--dimensions",
        "EMBER_BATCH_DIMENSIONS",
        "embed: keep the first N dimensions (Matryoshka), then normalize.",
        "N",
        minimum=1,
    )
    prompt_name: str | None = setting(
        None,
        "--prompt-name",
        "EMBER_BATCH_PROMPT_NAME",
        "embed: the model's named prompt to prepend (config_sentence_transformers.json).",
        "NAME",
    )
    truncate: bool = setting(
        True,
        "--truncate",
        "EMBER_BATCH_TRUNCATE",
        "Cut inputs longer than the model's limit (false: such a row stops the run with "
        "an error naming it).",
        "BOOL",
    )
    raw_scores: bool = setting(
        False,
        "--raw-scores",
        "EMBER_BATCH_RAW_SCORES",
        "classify, rerank: raw logits instead of probabilities.",
        "BOOL",
    )
    aggregation: AggregationStrategy = setting(
        AggregationStrategy.SIMPLE,
        "--aggregation",
        "EMBER_BATCH_AGGREGATION",
        "ner: none (one item per token), simple, first, average or max (entity spans, as "
        "the transformers NER pipeline merges them).",
        "STRATEGY",
    )
    precision: Precision = setting(
        Precision.FLOAT32,
        "--precision",
        "EMBER_BATCH_PRECISION",
        "embed: the `embedding` column's numbers: float32, int8, uint8 (one integer per "
        "dimension, quantized with --ranges), binary or ubinary (one bit per dimension, 8 to a "
        "byte); sentence-transformers' quantize_embeddings.",
        "PRECISION",
    )
    ranges: str | None = setting(
        None,
        "--ranges",
        "EMBER_BATCH_RANGES",
        "int8, uint8 (required): a .npy array or JSON [[min, ...], [max, ...]] of shape "
        "(2, dimensions), each dimension's range, calibrated on your corpus.",
        "PATH",
    )
    rows_per_part: int = setting(
        2048,
        "--rows-per-part",
        "EMBER_BATCH_ROWS_PER_PART",
        "Rows in each output part: the unit of work redone after a crash, and of one core "
        "call. A rerun into the same OUTPUT must use the same value.",
        "N",
        minimum=1,
    )
    parts_in_flight: int = setting(
        3,
        "--parts-in-flight",
        "EMBER_BATCH_PARTS_IN_FLIGHT",
        "Parts read, tokenized, run and written at once (2 or more keeps the engine busy "
        "while the next part is tokenized and the last one written).",
        "N",
        minimum=1,
    )
    progress: str = setting(
        "auto",
        "--progress",
        "EMBER_BATCH_PROGRESS",
        "auto (a bar on a terminal, plain lines otherwise), bar, lines or none.",
        "MODE",
    )
    progress_interval_s: float = setting(
        10.0,
        "--progress-interval",
        "EMBER_BATCH_PROGRESS_INTERVAL",
        "Seconds between two plain progress lines.",
        "SECONDS",
        above=0,
    )

    ray_address: str | None = setting(
        None,
        "--ray-address",
        "EMBER_BATCH_RAY_ADDRESS",
        "Run on a Ray cluster through Ray Data (needs `pip install 'ember-serve[ray]'` on "
        "every node): the head's address (host:port), `auto` (the cluster this machine "
        "joined) or `local` (start one here). INPUT may then be a URI of any filesystem "
        "pyarrow reaches (s3://, gs://, hdfs://, file://); OUTPUT is written by this "
        "process. Unset: run in this process.",
        "ADDR",
    )
    ray_actors: int = setting(
        1,
        "--ray-actors",
        "EMBER_BATCH_RAY_ACTORS",
        "With --ray-address: engines (Ray actors, each with the model loaded) running parts.",
        "N",
        minimum=1,
    )
    ray_actor_cpus: float = setting(
        1.0,
        "--ray-actor-cpus",
        "EMBER_BATCH_RAY_ACTOR_CPUS",
        "With --ray-address: CPUs Ray reserves for each engine (set --num-threads to match).",
        "N",
        minimum=0,
    )
    ray_actor_gpus: float = setting(
        0.0,
        "--ray-actor-gpus",
        "EMBER_BATCH_RAY_ACTOR_GPUS",
        "With --ray-address: GPUs Ray reserves for each engine (1 with --device cuda).",
        "N",
        minimum=0,
    )

    def task_options(self) -> TaskOptions:
        """The task-specific part of these settings."""
        return TaskOptions(
            task=self.task,
            column=self.column,
            pair_column=self.pair_column,
            query_column=self.query_column,
            normalize=self.normalize,
            dimensions=self.dimensions,
            prompt_name=self.prompt_name,
            truncate=self.truncate,
            raw_scores=self.raw_scores,
            aggregation=self.aggregation,
            precision=self.precision,
            ranges_path=self.ranges,
        )
