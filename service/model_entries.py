"""The models a server is asked to serve: ``--model`` values, then a ``--models`` file.

Each entry is a folder or hub id, an optional served name and aliases, and the server
settings with that model's own options applied (precision, input length, batch limits, ...):
one typed :class:`ServerSettings` per model, so engine configuration and limits come from the
same place for every model. A models file is YAML or TOML::

    models:                          # TOML: [[models]] tables
      - path: /models/bge-small      # or org/name[@revision]
        name: embedder
        aliases: [text-embedding-3-small]
        max_batch_tokens: 4096
      - path: BAAI/bge-reranker-base
        dtype: float32
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ember.engines.config import EngineConfig, EngineOptions
from ember.service.default_model import DEFAULT_MODEL_NAME, default_model_path
from ember.service.options import check_range
from ember.service.settings import ServerSettings

#: The options a model in a models file may set for itself (the rest are the server's).
PER_MODEL_OPTIONS = (
    "backend",
    "device",
    "dtype",
    "quantization",
    "packed",
    "compile",
    "allow_slow_precision",
    "precision_check",
    "max_input_length",
    "default_prompt_name",
    "default_prompt",
    "max_batch_tokens",
    "max_batch_requests",
    "max_client_batch_size",
    "batch_overhead_tokens",
)


@dataclass(frozen=True)
class ModelEntry:
    """One model to serve."""

    path: str
    name: str | None
    aliases: tuple[str, ...]
    #: The server settings with this model's own options applied.
    settings: ServerSettings

    @property
    def engine(self) -> EngineConfig:
        """The engine configuration of this model."""
        return EngineConfig.of(self.settings.engine, Path(self.path), self.name)


def model_specs(settings: ServerSettings) -> list[tuple[str | None, str]]:
    """Each ``--model`` value as (served name or None, folder or hub id)."""
    out: list[tuple[str | None, str]] = []
    for spec in settings.model:
        name, sep, path = spec.partition("=")
        # NAME=PATH; a value whose part before "=" looks like a path is a path.
        if sep and name and "/" not in name and path:
            out.append((name, path))
        else:
            out.append((None, spec))
    return out


def model_entries(settings: ServerSettings) -> list[ModelEntry]:
    """The ``--model`` values, then the models file's entries (the embedded default model
    when neither gives one); ``--served-model-name`` names the first. ValueError for a bad
    models file."""
    entries = [ModelEntry(path, name, (), settings) for name, path in model_specs(settings)]
    if settings.models_file is not None:
        entries += read_models_file(settings.models_file, settings)
    if not entries:
        entries = [ModelEntry(str(default_model_path()), DEFAULT_MODEL_NAME, (), settings)]
    if settings.served_model_name:
        entries[0] = dataclasses.replace(entries[0], name=settings.served_model_name)
    return entries


def engine_configs(settings: ServerSettings) -> list[EngineConfig]:
    """The engine configuration of every model to serve."""
    return [entry.engine for entry in model_entries(settings)]


def read_models_file(path: Path, base: ServerSettings) -> list[ModelEntry]:
    """The entries of a YAML (``.yaml``, ``.yml``) or TOML (``.toml``) models file."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"cannot read the models file {str(path)!r}: {exc.strerror}") from None
    try:
        data = _parse(path, text)
    except ValueError as exc:
        raise ValueError(f"the models file {str(path)!r} is not valid: {exc}") from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list) or not models:
        raise ValueError(f"the models file {str(path)!r} has no models list")
    return [_entry(path, i, item, base) for i, item in enumerate(models)]


def _parse(path: Path, text: str) -> object:
    if path.suffix == ".toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(str(exc)) from None
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(str(exc)) from None
    raise ValueError("the file name must end in .yaml, .yml or .toml")


def _entry(path: Path, index: int, item: object, base: ServerSettings) -> ModelEntry:
    where = f"the models file {str(path)!r}, model {index}"
    if not isinstance(item, dict) or not isinstance(item.get("path"), str):
        raise ValueError(f"{where}: each model needs a path (a folder or a hub id)")
    known = {"path", "name", "aliases", *PER_MODEL_OPTIONS}
    unknown = sorted(set(item) - known)
    if unknown:
        raise ValueError(
            f"{where}: unknown option {unknown[0]!r}; a model takes: {', '.join(sorted(known))}"
        )
    name = item.get("name")
    aliases = item.get("aliases", [])
    if name is not None and not isinstance(name, str):
        raise ValueError(f"{where}: name must be a string")
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise ValueError(f"{where}: aliases must be a list of strings")
    options = {k: v for k, v in item.items() if k in PER_MODEL_OPTIONS}
    return ModelEntry(item["path"], name, tuple(aliases), _with(base, options, where))


def _with(base: ServerSettings, options: Mapping[str, object], where: str) -> ServerSettings:
    """``base`` with ``options`` applied (engine options to ``base.engine``), each checked
    against its field's type."""
    engine_fields = {f.name for f in dataclasses.fields(EngineOptions)}
    # Checked against each field's type below, hence Any for replace().
    engine: dict[str, Any] = {}
    server: dict[str, Any] = {}
    for key, value in options.items():
        target = engine if key in engine_fields else server
        cls = EngineOptions if target is engine else ServerSettings
        allowed = _types(typing.get_type_hints(cls)[key])
        # bool is an int in Python: a flag given as a number, or a number as a flag, is refused.
        if isinstance(value, bool) != (bool in allowed) or not isinstance(value, allowed):
            names = " or ".join(t.__name__ for t in allowed if t is not type(None))
            raise ValueError(f"{where}: {key} must be {names}, got {value!r}")
        field = next(f for f in dataclasses.fields(cls) if f.name == key)
        check_range(field, value, f"{where}: {key}")
        target[key] = value
    return dataclasses.replace(base, engine=dataclasses.replace(base.engine, **engine), **server)


def _types(hint: Any) -> tuple[type, ...]:
    """The types a value of ``hint`` may have (a Literal's: its values' types)."""
    if typing.get_origin(hint) is typing.Literal:
        return tuple({type(v) for v in typing.get_args(hint)})
    args = typing.get_args(hint)
    if not args:
        return (hint,) if isinstance(hint, type) else ()
    return tuple(t for a in args for t in _types(a))
