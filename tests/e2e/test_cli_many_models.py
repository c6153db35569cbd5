"""End to end: ``ember serve`` refuses, with one line and exit status 2, two models with the
same id and a models file it cannot use."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

EMBER = shutil.which("ember", path=str(Path(sys.executable).parent))


def ember(*args: str) -> subprocess.CompletedProcess[str]:
    assert EMBER, "the ember command is not installed"
    return subprocess.run(
        [EMBER, "serve", "--http", "false", "--grpc-host", "127.0.0.1", "--grpc-port", "0", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_two_models_with_one_id_are_refused(minilm_path: Path) -> None:
    done = ember("--model", f"same={minilm_path}", "--model", f"same={minilm_path}")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("ember: error: two models have the id 'same'")
    )


def test_a_bad_models_file_is_refused_before_loading(tmp_path: Path) -> None:
    models = tmp_path / "models.yaml"
    models.write_text("models:\n  - path: /m\n    dtype: 16\n")
    done = ember("--models", str(models))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"ember: error: the models file '{models}', model 0: dtype must be str, got 16"
    )
