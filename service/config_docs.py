"""The configuration reference (a Markdown table per command) generated from the settings
classes' field metadata, so the README cannot drift from ``--help``.

``python -m ember.service.config_docs`` prints it; ``--write README.md`` replaces the block
between ``<!-- config:start -->`` and ``<!-- config:end -->``.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
from pathlib import Path
from typing import Any

from ember.gateway.settings import GatewaySettings
from ember.service import options
from ember.service.async_jobs.settings import JobSettings
from ember.service.bulk.settings import BatchSettings
from ember.service.cli import SERVE_EXCLUDED_GATEWAY_SETTINGS, ProcessSettings
from ember.service.ray_settings import RaySettings
from ember.service.settings import ServerSettings

START = "<!-- config:start -->"
END = "<!-- config:end -->"


def _default(value: Any) -> str:
    if value is None or value is dataclasses.MISSING or value == ():
        return "—"
    if isinstance(value, enum.Enum):
        return f"`{value.value}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _table(cls: type[Any], exclude: frozenset[str] = frozenset()) -> list[str]:
    rows = ["| flag | environment | default | meaning |", "|---|---|---|---|"]
    for f in options.flagged_fields(cls):
        if f.name in exclude:
            continue
        meta = f.metadata
        text = str(meta["help"]).replace("|", "\\|")
        bounds = options.range_text(meta)
        if bounds:
            text += f" ({bounds.capitalize()}.)"
        rows.append(f"| `{meta['flag']}` | `{meta['env']}` | {_default(f.default)} | {text} |")
    return rows


def render() -> str:
    """The whole configuration block, markers included."""
    lines = [START, "", "`ember serve` — the model and gRPC service:", ""]
    lines += _table(ServerSettings)
    lines += ["", "`ember serve` — the REST gateway (also `ember gateway`, plus `--upstream`):", ""]
    lines += _table(GatewaySettings, exclude=SERVE_EXCLUDED_GATEWAY_SETTINGS)
    lines += _table(ProcessSettings)[2:]
    lines += _table(JobSettings)[2:]
    lines += [
        "",
        "`ember serve` — on a Ray cluster (Ray Serve; `pip install 'ember-serve[ray]'`):",
        "",
    ]
    lines += _table(RaySettings)
    lines += ["", "`ember gateway` only:", ""]
    lines += _table(GatewaySettings)[:2] + [
        row
        for row in _table(GatewaySettings)[2:]
        if any(f"`{flag}`" in row for flag in ("--upstream", "--http-shutdown-grace"))
    ]
    lines += [
        "",
        "`ember batch INPUT OUTPUT` — besides the model and engine options of `ember serve` "
        "(`--model` once, `--backend`, `--device`, `--dtype`, `--quantization`, "
        "`--max-batch-tokens`, ...):",
        "",
    ]
    lines += _table(BatchSettings)
    lines += ["", END]
    return "\n".join(lines)


def replace_block(text: str) -> str:
    """``text`` with its configuration block regenerated."""
    head, sep, rest = text.partition(START)
    if not sep:
        raise ValueError(f"no {START} marker")
    _, sep, tail = rest.partition(END)
    if not sep:
        raise ValueError(f"no {END} marker")
    return head + render() + tail


def main() -> None:
    """Print the block, or rewrite it in place in the file given with --write."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, help="rewrite the block in this file")
    args = parser.parse_args()
    if args.write is None:
        print(render())
        return
    args.write.write_text(replace_block(args.write.read_text()))


if __name__ == "__main__":
    main()
