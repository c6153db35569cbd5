"""What a benchmark ran on and from: machine kind, CPU summary (ISA), GPU card, load, versions,
git commit, date and the exact command. Every results folder carries this record
(:func:`environment`), and the report prints it above the numbers."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_PACKAGES = (
    "torch",
    "transformers",
    "sentence-transformers",
    "onnxruntime",
    "openvino",
    "grpcio",
    "baseten-performance-client",
    "tokenizers",
    "triton",
)


def _lscpu() -> dict[str, str]:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    fields: dict[str, str] = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def cpu_summary() -> str:
    """One line: ISA class, model, CPU count, the ISA flags that decide the kernels (as the
    server reads them: :mod:`ember.engines.cpu_features`), the hypervisor."""
    from ember.engines.cpu_features import cpu_features

    info = _lscpu()
    features = cpu_features()
    parts = [
        f"ISA class **{features.isa}**",
        info.get("Model name", features.model_name or platform.processor() or "unknown CPU"),
        f"{info.get('CPU(s)', os.cpu_count())} vCPUs",
        f"flags: {' '.join(features.ordered_flags()) or 'none of interest'}",
    ]
    if "Hypervisor vendor" in info:
        parts.append(f"{info['Hypervisor vendor']} guest")
    return "; ".join(parts)


def load_average() -> str:
    """The 1/5/15-minute load averages (other work on a shared machine skews numbers)."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def versions() -> str:
    """Versions of the packages that decide the numbers."""
    found = []
    for package in _PACKAGES:
        try:
            found.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return ", ".join([f"Python {platform.python_version()}", *found])


def git_commit() -> str:
    """The checked-out commit (with ``+dirty`` when the tree has changes)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def now() -> str:
    """The date and time, UTC."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def isa_class() -> str:
    """The CPU's ISA class (``amx``, ``avx512-vnni``, ``avx2``, ...; see
    :attr:`ember.engines.cpu_features.CpuFeatures.isa`)."""
    from ember.engines.cpu_features import cpu_features

    return cpu_features().isa


def results_kind(isa: str) -> str:
    """The results folder suffix of a CPU ISA class: ``benchmarks/results-<kind>/``. The
    AVX-512 classes share ``avx512`` (VNNI or not, the kernels differ only in int8)."""
    return "avx512" if isa.startswith("avx512") else isa.removesuffix("-vnni")


def gpu_card() -> dict[str, str]:
    """The first GPU as ``nvidia-smi`` describes it (name, driver, memory, clocks, power), or
    ``{"error": ...}`` when there is none."""
    fields = "name,driver_version,memory.total,clocks.max.sm,clocks.sm,power.limit,temperature.gpu"
    try:
        text = subprocess.run(
            ["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.strip()
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    values = [v.strip() for v in text.splitlines()[0].split(",")]
    return dict(zip(fields.split(","), values, strict=False))


def command(module: str) -> str:
    """The command line that started this run, as ``python -m <module> ARGS``."""
    return " ".join(["python", "-m", module, *sys.argv[1:]])


def environment(module: str) -> dict[str, str]:
    """The machine record every results file starts with (``load_after`` is added at the end)."""
    return {
        "cpu": cpu_summary(),
        "isa": isa_class(),
        "load_before": load_average(),
        "versions": versions(),
        "commit": git_commit(),
        "date": now(),
        "command": command(module),
    }
