"""Make ``import ember.*`` load this working tree, installed or not.

The device machine gets a copy of the working tree but no Ember install: rather than a wheel
built ahead (which can silently be older than the tree), a folder of links maps each top-level
folder to its ``ember.<name>`` module path, exactly as pyproject's ``package-dir`` does, and goes
first on ``sys.path``. Child processes (the load generators) find it through
``EMBER_BENCH_SRC``. Import this module before anything from ``ember``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

#: ember.<name> -> folder in the repository (pyproject's package-dir).
_PACKAGES = {
    "v1": "protos/ember/v1",
    "service": "service",
    "engines": "engines",
    "gateway": "gateway",
    "clients": "clients",
}

_ENV = "EMBER_BENCH_SRC"


def link_tree(tree: Path, prefix: str) -> Path:
    """A new temporary folder (named ``prefix...``) holding ``ember/<name>`` links to the
    package folders of the checkout ``tree`` (the ones it has): on ``sys.path`` or
    ``PYTHONPATH``, ``import ember`` runs that checkout's code."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    package = path / "ember"
    package.mkdir()
    for name, folder in _PACKAGES.items():
        target = tree / folder
        if target.is_dir():
            (package / name).symlink_to(target, target_is_directory=True)
    return path


def ensure_ember_importable() -> Path:
    """Create (once per process tree) the link folder and put it first on ``sys.path``."""
    existing = os.environ.get(_ENV)
    if existing and (Path(existing) / "ember").is_dir():
        path = Path(existing)
    else:
        path = link_tree(REPO_ROOT, "ember-src-")
        os.environ[_ENV] = str(path)
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
    if str(REPO_ROOT) not in sys.path:  # ``tests.tiny_models`` and ``benchmarks``
        sys.path.append(str(REPO_ROOT))
    return path


ensure_ember_importable()
