"""The served models: a request's ``model`` field picks one by id or alias.

With one model every name is accepted (clients send arbitrary names, as OpenAI SDKs do); with
several an empty name picks the first and an unknown name is NOT_FOUND, listing the ids. Each
model has its own :class:`~ember.service.core.Core`, so its own scheduler queue: a busy model
never holds another's requests in its queue.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from ember.engines.errors import (
    ModelExistsError,
    ModelNotFoundError,
    NotReadyError,
    UnsupportedTaskError,
)
from ember.service.core import Core


class ModelSet:
    """Cores by model id, in the order they were given; ``aliases`` map extra names to ids."""

    def __init__(self, cores: Sequence[Core], aliases: Mapping[str, str] | None = None) -> None:
        if not cores:
            raise ValueError("a model set needs at least one model")
        self._cores: dict[str, Core] = {}
        self._names: dict[str, Core] = {}
        for core in cores:
            self.add(core, ())
        for alias, model_id in (aliases or {}).items():
            self._alias(alias, self._cores[model_id])

    def add(self, core: Core, aliases: Sequence[str]) -> None:
        """Serve ``core`` under its id and ``aliases``; ModelExistsError (nothing changed) when
        one of those names is taken."""
        model_id = core.info.model_id
        if model_id in self._names:
            raise ModelExistsError(
                f"two models have the id {model_id!r}; give each its own name "
                f"(--model NAME=PATH or --served-model-name)",
                reason="duplicate_model",
                field="name",
            )
        self.check_free([model_id, *aliases])
        self._cores[model_id] = self._names[model_id] = core
        for alias in aliases:
            self._alias(alias, core)

    def check_free(self, names: Sequence[str]) -> None:
        """ModelExistsError when one of ``names`` is a served model's id or alias."""
        for name in names:
            if name in self._names:
                raise ModelExistsError(
                    f"the name {name!r} is already a model id or alias",
                    reason="duplicate_model",
                    field="name",
                )

    def _alias(self, alias: str, core: Core) -> None:
        self.check_free([alias])
        self._names[alias] = core

    def remove(self, name: str) -> Core:
        """Stop serving the model ``name`` (id or alias) and return its core; NOT_FOUND for
        an unknown name, FAILED_PRECONDITION for the last model."""
        core = self._names.get(name)
        if core is None:
            raise self._unknown(name)
        if len(self._cores) == 1:
            raise UnsupportedTaskError(
                f"{core.info.model_id!r} is the only model served; load another one first",
                reason="last_model",
                field="model",
            )
        self._names = {n: c for n, c in self._names.items() if c is not core}
        del self._cores[core.info.model_id]
        return core

    @property
    def ids(self) -> list[str]:
        """The model ids, in order."""
        return list(self._cores)

    def __iter__(self) -> Iterator[Core]:
        # A copy: a model may be loaded or unloaded while a caller iterates and awaits.
        return iter(list(self._cores.values()))

    def __len__(self) -> int:
        return len(self._cores)

    @property
    def first(self) -> Core:
        """The first model given (what a request without a model name gets)."""
        return next(iter(self._cores.values()))

    def get(self, name: str) -> Core:
        """The core serving ``name``; see the module docstring for the rules."""
        if len(self._cores) == 1 or not name:
            return self.first
        core = self._names.get(name)
        if core is None:
            raise self._unknown(name)
        return core

    def _unknown(self, name: str) -> ModelNotFoundError:
        return ModelNotFoundError(
            f"the model {name!r} is not served here; this server serves: " + ", ".join(self._cores),
            reason="unknown_model",
            field="model",
        )


class ModelsHandle:
    """Late binding between servicers (registered before start) and the models (loaded after):
    until they are, every model call answers UNAVAILABLE."""

    def __init__(self) -> None:
        self.models: ModelSet | None = None

    def __call__(self, name: str = "") -> Core:
        """The core for the model ``name`` (see :meth:`ModelSet.get`)."""
        return self.loaded().get(name)

    def loaded(self) -> ModelSet:
        """The loaded models; NotReadyError until they are."""
        if self.models is None:
            raise NotReadyError("the model is still loading; retry shortly")
        return self.models
