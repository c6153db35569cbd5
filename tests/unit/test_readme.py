"""The README's promises that can drift: the configuration table and the two commands."""

from __future__ import annotations

import re
from pathlib import Path

from ember.service import config_docs

README = Path(__file__).resolve().parents[2] / "README.md"


def test_configuration_table_matches_the_settings() -> None:
    text = README.read_text()
    assert config_docs.replace_block(text) == text, (
        "README's configuration block is stale: run "
        "`python -m ember.service.config_docs --write README.md`"
    )


def test_every_flag_is_documented() -> None:
    block = config_docs.render()
    for flag in ("--model", "--compile", "--http-workers", "--http-direct", "--quantization"):
        assert f"`{flag}`" in block


def test_every_flag_a_help_text_names_exists() -> None:
    # A help text that points to another option ("set --num-threads to match") must name a
    # real one: users type what --help and the README tell them.
    block = config_docs.render()
    rows = [line.split(" | ", 3) for line in block.splitlines() if line.startswith("| `--")]
    defined = {flag.strip("| `") for flag, *_ in rows}
    named = {name for *_, meaning in rows for name in re.findall(r"--[a-z][a-z0-9-]*", meaning)}
    assert named, "no help text names another flag: the pattern is wrong"
    assert named <= defined, f"help texts name flags that do not exist: {named - defined}"


def test_the_two_commands_are_the_ones_ci_runs() -> None:
    text = README.read_text()
    assert "make serve" in text
    assert "make test" in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci
