"""Typed settings from flags and environment variables, driven by dataclass field metadata.

A settings class is a frozen dataclass whose fields carry ``metadata={"flag": "--x",
"env": "EMBER_X", "help": "..."}``; a field marked ``metadata={"nested": ...}`` holds another
such class (e.g. the engine options), whose flags are registered and filled in its place.
:func:`add_arguments` registers every field on an argparse parser (the help text names the
environment variable and the default);
:func:`build` turns parsed arguments into the dataclass. Precedence: flag, then environment,
then the field default. Nothing here reads the environment at import time.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false), got {text!r}")


def _base_type(hint: Any) -> tuple[Any, bool]:
    """The concrete type of a field hint and whether None is allowed."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"unsupported settings type {hint!r}")
        return args[0], True
    return hint, False


def _converter(kind: Any) -> Any:
    if typing.get_origin(kind) is typing.Literal:
        return str  # the settings class checks the value (and names the allowed ones)
    if kind is bool:
        return _parse_bool
    if kind is Path:
        return Path
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        values = {str(m.value): m for m in kind}

        def to_enum(text: str) -> Any:
            try:
                return values[text.strip().lower()]
            except KeyError:
                raise argparse.ArgumentTypeError(
                    f"expected one of {', '.join(values)}, got {text!r}"
                ) from None

        return to_enum
    if kind in (int, float, str):
        return kind
    raise TypeError(f"unsupported settings type {kind!r}")


def _nested(cls: type[Any]) -> list[tuple[str, type[Any]]]:
    """The nested settings of ``cls``: (field name, settings class)."""
    hints = typing.get_type_hints(cls)
    return [(f.name, hints[f.name]) for f in dataclasses.fields(cls) if "nested" in f.metadata]


def flagged_fields(cls: type[Any]) -> list[dataclasses.Field[Any]]:
    """The fields of ``cls`` that have a flag, those of nested settings in their place."""
    nested = dict(_nested(cls))
    out: list[dataclasses.Field[Any]] = []
    for f in dataclasses.fields(cls):
        if f.name in nested:
            out += flagged_fields(nested[f.name])
        elif "flag" in f.metadata:
            out.append(f)
    return out


def _fields(cls: type[Any]) -> list[tuple[dataclasses.Field[Any], Any, bool, bool]]:
    """Each flagged field of ``cls`` (not of nested settings) with its item type, whether it
    may be None, and whether it is a ``tuple[X, ...]`` (a flag given once per value; its
    variable comma-separated)."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if "flag" not in f.metadata:
            continue
        hint = hints[f.name]
        repeated = typing.get_origin(hint) is tuple
        kind, optional = _base_type(typing.get_args(hint)[0] if repeated else hint)
        out.append((f, kind, optional, repeated))
    return out


def add_arguments(
    parser: argparse.ArgumentParser,
    cls: type[Any],
    title: str,
    exclude: frozenset[str] = frozenset(),
) -> None:
    """Register a flag for every field of settings class ``cls`` (but those named in
    ``exclude``) in an argument group named ``title``."""
    group = parser.add_argument_group(title)
    for name, kind in _nested(cls):
        add_arguments(parser, kind, f"{title}: {name}", exclude)
    for f, kind, _optional, repeated in _fields(cls):
        if f.name in exclude:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        shown = default.value if isinstance(default, enum.Enum) else default
        bounds = range_text(f.metadata)
        limits = f"; {bounds}" if bounds else ""
        help_text = f"{f.metadata['help']} [env {f.metadata['env']}; default: {shown}{limits}]"
        group.add_argument(
            f.metadata["flag"],
            dest=f.name,
            type=_converter(kind),
            default=None,
            action="append" if repeated else "store",
            metavar=f.metadata.get("metavar", f.name.upper()),
            help=help_text,
        )


def build(cls: type[T], args: argparse.Namespace, env: Mapping[str, str]) -> T:
    """Build settings ``cls``: flag value if given, else environment variable, else default.
    ValueError when a value is malformed, out of its range, or refused by the settings class."""
    values: dict[str, Any] = {name: build(kind, args, env) for name, kind in _nested(cls)}
    for f, kind, optional, repeated in _fields(cls):
        given = getattr(args, f.name, None)
        if given is not None:
            values[f.name] = tuple(given) if repeated else given
            check_range(f, values[f.name], f.metadata["flag"])
            continue
        raw = env.get(f.metadata["env"])
        if raw is None or raw == "":
            continue
        if optional and raw.strip().lower() in ("none", "null"):
            values[f.name] = None
            continue
        try:
            if repeated:
                values[f.name] = tuple(_converter(kind)(p.strip()) for p in raw.split(","))
                continue
            values[f.name] = _converter(kind)(raw)
        except (argparse.ArgumentTypeError, ValueError) as exc:
            raise ValueError(f"invalid value for {f.metadata['env']}: {exc}") from None
        check_range(f, values[f.name], f.metadata["env"])
    return cls(**values)


def range_text(meta: Mapping[str, Any]) -> str:
    """The range an option's metadata declares, as its help and the README show it ("0 to
    65535", "at least 1", "greater than 0"); empty when it declares none."""
    low, high, above = meta.get("minimum"), meta.get("maximum"), meta.get("above")
    if low is not None and high is not None:
        return f"{low:g} to {high:g}"
    if low is not None:
        return f"at least {low:g}"
    if above is not None:
        return f"greater than {above:g}"
    return ""


def check_range(f: dataclasses.Field[Any], value: Any, source: str) -> None:
    """ValueError naming ``source`` (the flag, environment variable or models-file entry)
    when a number lies outside the field's ``minimum`` / ``maximum`` / ``above`` (its
    metadata)."""
    meta = f.metadata
    for number in value if isinstance(value, tuple) else (value,):
        if not isinstance(number, int | float) or isinstance(number, bool):
            continue
        if "minimum" in meta and number < meta["minimum"]:
            raise ValueError(f"{source} must be at least {meta['minimum']:g}, got {number:g}")
        if "maximum" in meta and number > meta["maximum"]:
            raise ValueError(f"{source} must be at most {meta['maximum']:g}, got {number:g}")
        if "above" in meta and number <= meta["above"]:
            raise ValueError(f"{source} must be greater than {meta['above']:g}, got {number:g}")
