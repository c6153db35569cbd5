"""The third-party runtimes Ember loads report usage by default; through Ember they send and
record nothing (:mod:`ember.engines.runtimes`).

Each check runs in a fresh interpreter, outside pytest and without the CI variables: NNCF is
silent under pytest, and ONNX Runtime and NNCF are silent when a CI variable is set, so a test
in this process would pass without the fix."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ember.engines.onnx_export import cache_root
from ember.engines.openvino_int8 import openvino_int8_available

_RUNTIME_IMPORT = re.compile(r"\s*(import|from) (onnxruntime|openvino|nncf)(?P<sub>\.\w+)?\b")
#: Variables that make these libraries suppress their telemetry on their own.
_SILENCERS = ("CI", "NNCF_CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "BUILD_BUILDID")


def _fresh_python(code: str, home: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in _SILENCERS and not k.startswith("ORT_")}
    env["HOME"] = str(home)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _files(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())


def test_onnx_runtime_records_and_sends_nothing(tmp_path: Path) -> None:
    """Ember's ONNX engine loads and runs the default model, and the int8 tooling imports,
    without ONNX Runtime writing its telemetry device id and event database in the home folder
    (which also means no uploader: ONNX Runtime's opt-out creates neither). Before, every
    Ember process queued ProcessInfo, session and error events for
    mobile.events.data.microsoft.com."""
    control, ember = tmp_path / "control", tmp_path / "ember"
    control.mkdir()
    ember.mkdir()
    _fresh_python("import onnxruntime\n", control)
    if not _files(control):
        pytest.skip("this onnxruntime records no telemetry even unasked: nothing to turn off")
    code = f"""
from pathlib import Path
from ember.engines.config import EngineConfig
from ember.engines.registry import load_engine
from ember.engines.types import TruncationSide
from ember.service.default_model import default_model_path
engine = load_engine(EngineConfig(
    model_path=Path(default_model_path()), backend="onnx", cache_dir=Path({str(cache_root())!r})
))
batch = engine.tokenizer.encode(["telemetry"], truncate=True, side=TruncationSide.RIGHT)
print(engine.forward(batch).rows.shape)
from ember.engines.runtimes import import_onnxruntime
import_onnxruntime()
from onnxruntime.quantization import quantize_dynamic
"""
    assert _fresh_python(code, ember).strip() == "(1, 384)"
    assert _files(ember) == []


@pytest.mark.skipif(not openvino_int8_available(), reason="needs the openvino extra")
def test_openvino_and_nncf_send_no_telemetry(tmp_path: Path) -> None:
    """Importing OpenVINO and NNCF as Ember does forks nothing, starts no sender thread and
    writes nothing: both run their no-op telemetry stubs. Before, `import openvino` forked a
    process to send a Google Analytics event and wrote ``~/intel/openvino_ga_cid``."""
    code = """
import os, threading, time
forks = []
os.register_at_fork(before=lambda: forks.append(1))
from ember.engines.runtimes import import_nncf, import_openvino
import_openvino().Core()
nncf = import_nncf()
from nncf.telemetry.decorator import telemetry
from openvino.tools.ovc import telemetry_utils
time.sleep(1)  # the sender forks from a thread pool, after the import returned
print(len(forks), threading.active_count(), type(telemetry).__name__, telemetry_utils.tm.__name__)
"""
    out = _fresh_python(code, tmp_path)
    assert out.split() == ["0", "1", "MagicMock", "openvino.tools.ovc.telemetry_stub"]
    assert _files(tmp_path) == []


def test_the_runtimes_are_imported_only_through_ember_runtimes() -> None:
    """No package module imports ONNX Runtime, OpenVINO or NNCF itself: a plain ``import``
    (or a submodule import not right after the gate) would load them with telemetry on."""
    root = Path(__file__).resolve().parents[2]
    gate = re.compile(r"import_(onnxruntime|openvino|nncf)\(\)")
    offenders = []
    for folder in ("engines", "service", "gateway", "clients"):
        for path in sorted((root / folder).rglob("*.py")):
            if path.name == "runtimes.py":
                continue
            lines = path.read_text().splitlines()
            for number, line in enumerate(lines):
                found = _RUNTIME_IMPORT.match(line)
                if found and not (found["sub"] and number and gate.search(lines[number - 1])):
                    offenders.append(f"{path.relative_to(root)}:{number + 1}: {line.strip()}")
    assert offenders == []
