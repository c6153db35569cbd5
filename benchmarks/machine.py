"""What the benchmark ran on and from: CPU summary, load, versions, git commit, date."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_PACKAGES = (
    "torch",
    "transformers",
    "sentence-transformers",
    "onnxruntime",
    "openvino",
    "grpcio",
    "baseten-performance-client",
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
