"""The report writer: a results folder's ``results.json`` -> ``RESULTS.md`` + ``results.png``.

Every run (CPU: ``benchmarks.run``; GPU: ``benchmarks.gpu.run``) writes its results through
:func:`write`, and the same files are regenerated from the JSON alone:

    python -m benchmarks.harness.report benchmarks/results-avx2 benchmarks/results-gpu ...
    python -m benchmarks.harness.report --from-json RUN/results.json -o benchmarks/results-gpu

A results dict names its ``kind`` (``"cpu"`` or ``"gpu"``); the renderer of that kind (the
plan's own ``report`` module: :data:`RENDERERS`) turns it into Markdown sections and chart
panels. The primitives here (number formatting, ratios, tables, the bar chart, atomic writes)
are the only ones either renderer uses. ``analysis.md`` beside ``RESULTS.md``, when present, is
the hand-written analysis of the folder and is appended unchanged.
"""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

#: results["kind"] -> the module that renders it.
RENDERERS = {"cpu": "benchmarks.report", "gpu": "benchmarks.gpu.report"}
EMBER_COLOR = "#d9480f"
PEER_COLOR = "#868e96"


@dataclass(frozen=True)
class Bar:
    """One bar of a chart panel."""

    label: str
    value: float
    #: Ember's bars are coloured; the peers' are grey.
    ember: bool


@dataclass(frozen=True)
class Panel:
    """One chart panel: a title and its bars, in order."""

    title: str
    bars: Sequence[Bar]


class Renderer(Protocol):
    """What a plan's report module provides."""

    def render(self, results: dict[str, Any]) -> str:
        """The Markdown report (without the analysis)."""
        ...

    def panels(self, results: dict[str, Any]) -> tuple[str, list[Panel]]:
        """The chart's title and panels."""
        ...


# -- primitives -----------------------------------------------------------------------------


def get(data: Any, *keys: Any) -> Any:
    """``data[k0][k1]...``, or None as soon as a key or index is missing."""
    for key in keys:
        if (isinstance(data, dict) and key in data) or (
            isinstance(data, list) and isinstance(key, int) and -len(data) <= key < len(data)
        ):
            data = data[key]
        else:
            return None
    return data


def fmt(value: Any, digits: int = 0, suffix: str = "") -> str:
    """A number with thousands separators (``–`` when missing, strings as they are)."""
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value != value:
        return "NaN"
    return f"{value:,.{digits}f}{suffix}"


def pct(value: Any) -> str:
    """A fraction as a percentage."""
    return "–" if value is None else f"{100 * value:.1f} %"


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, or None when either is missing or ``b`` is zero."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def table(header: Iterable[str], rows: Iterable[Iterable[Any]], align: str = "---") -> list[str]:
    """A Markdown table (``align`` is each column's separator cell, e.g. ``---:``)."""
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + f"{align}|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` so a reader never sees half a file (a run may be killed mid-write)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def json_default(value: object) -> object:
    """JSON for numpy scalars and paths (anything else as its string)."""
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)


def chart(title: str, panels: Sequence[Panel], path: Path) -> bool:
    """Draw ``panels`` side by side as bar charts into ``path`` (PNG); False without
    matplotlib (the ``bench`` extra) or without a bar to draw."""
    panels = [p for p in panels if p.bars]
    if not panels:
        return False
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    for axis, panel in zip(axes[0], panels, strict=True):
        values = [b.value for b in panel.bars]
        colors = [EMBER_COLOR if b.ember else PEER_COLOR for b in panel.bars]
        bars = axis.bar([b.label for b in panel.bars], values, color=colors)
        axis.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=8)
        axis.set_title(panel.title, fontsize=10)
        axis.tick_params(axis="x", labelrotation=30, labelsize=8)
        axis.spines[["top", "right"]].set_visible(False)
    fig.suptitle(title[:120], fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# -- the writer -----------------------------------------------------------------------------


def kind_of(results: dict[str, Any]) -> str:
    """The results' kind (older CPU files have none: their samples say it)."""
    kind = results.get("kind") or ("gpu" if "sections" in results else "cpu")
    if kind not in RENDERERS:
        raise ValueError(f"unknown results kind {kind!r}; known: {sorted(RENDERERS)}")
    return str(kind)


def renderer(results: dict[str, Any]) -> Renderer:
    """The report module of the results' kind."""
    return cast(Renderer, importlib.import_module(RENDERERS[kind_of(results)]))


def write(out: Path, results: dict[str, Any], *, json_too: bool = True) -> None:
    """Write ``results.json`` (unless ``json_too`` is False), ``RESULTS.md`` and
    ``results.png`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=1, default=json_default)
    if json_too:
        atomic_write(out / "results.json", text)
    results = json.loads(text)  # what the renderers see is exactly what the JSON holds
    render = renderer(results)
    title, panels = render.panels(results)
    drawn = chart(title, panels, out / "results.png")
    markdown = render.render(results).rstrip() + "\n"
    if drawn:
        markdown = markdown.replace("<!-- chart -->", "![throughput](results.png)", 1)
    analysis = out / "analysis.md"
    if analysis.is_file():
        markdown += "\n" + analysis.read_text(encoding="utf-8").rstrip() + "\n"
    atomic_write(out / "RESULTS.md", markdown)


def regenerate(folder: Path, source: Path | None = None) -> None:
    """Rewrite ``folder``'s RESULTS.md and results.png from ``source`` (default: the folder's
    own results.json; another file is copied in as the folder's results.json)."""
    path = source or folder / "results.json"
    results = json.loads(path.read_text(encoding="utf-8"))
    write(folder, results, json_too=source is not None)


def main(argv: Sequence[str] | None = None) -> None:
    """Regenerate results folders from their JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.harness.report",
        description="Regenerate RESULTS.md and results.png of results folders from results.json",
    )
    parser.add_argument("folders", nargs="*", type=Path, help="results folders to regenerate")
    parser.add_argument("--from-json", type=Path, help="a run's results.json to render")
    parser.add_argument("-o", "--out", type=Path, help="the folder --from-json renders into")
    args = parser.parse_args(argv)
    if args.from_json:
        if not args.out:
            parser.error("--from-json needs -o FOLDER")
        regenerate(args.out, args.from_json)
        print(f"wrote {args.out}/RESULTS.md")
    for folder in args.folders:
        regenerate(folder)
        print(f"wrote {folder}/RESULTS.md")
    if not args.from_json and not args.folders:
        parser.error("name results folders or --from-json")


if __name__ == "__main__":
    main()
