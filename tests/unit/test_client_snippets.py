"""The READMEs' client snippets are the tested examples' code, verbatim.

Each snippet follows a ``<!-- snippet: PATH -->`` line and must equal the region between the
``[START readme]`` and ``[END readme]`` comments of PATH, dedented. The examples themselves run
against real servers in ``tests/clients`` (``make test-clients``).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: The READMEs with snippets: the top one ("Use from other languages") and each client's.
READMES = (
    "README.md",
    "clients/go/README.md",
    "clients/typescript/README.md",
    "clients/java/README.md",
    "clients/cpp/README.md",
)
EXAMPLES = (
    "clients/go/examples/tour/main.go",
    "clients/typescript/examples/tour.ts",
    "clients/java/examples/com/ember/examples/Tour.java",
    "clients/cpp/examples/tour.cc",
)
_SNIPPET = re.compile(r"<!-- snippet: (\S+) -->\n```\w+\n(.*?)```\n", re.DOTALL)


def region(path: Path) -> str:
    """The README region of an example file, dedented."""
    text = path.read_text()
    match = re.search(r"\n[^\n]*\[START readme\]\n(.*?\n)[^\n]*\[END readme\]", text, re.DOTALL)
    assert match, f"{path} has no [START readme] ... [END readme] region"
    return textwrap.dedent(match.group(1))


@pytest.mark.parametrize("readme", READMES)
def test_readme_snippets_are_the_example_regions(readme: str) -> None:
    snippets = _SNIPPET.findall((REPO / readme).read_text())
    assert snippets, f"{readme} has no snippet"
    for example, code in snippets:
        assert code == region(REPO / example), (
            f"{readme}'s snippet of {example} differs from its [START readme] region: "
            "run `python -m tests.unit.test_client_snippets` to rewrite it"
        )


def test_the_top_readme_shows_every_language() -> None:
    shown = {example for example, _ in _SNIPPET.findall((REPO / "README.md").read_text())}
    assert shown == set(EXAMPLES)


def rewrite(text: str) -> str:
    """``text`` (the README) with every snippet replaced by its example's current region."""

    def replace(match: re.Match[str]) -> str:
        fence = match.group(0).split("\n", 2)[1]
        return f"<!-- snippet: {match.group(1)} -->\n{fence}\n{region(REPO / match.group(1))}```\n"

    return _SNIPPET.sub(replace, text)


if __name__ == "__main__":
    for name in READMES:
        (REPO / name).write_text(rewrite((REPO / name).read_text()))
