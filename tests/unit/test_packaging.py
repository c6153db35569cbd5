"""The one import namespace: each fixed top-level folder is ``ember.<name>``, the same in a
plain (wheel) install as in the editable install the tests run on."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAPPING = {
    "service": "ember/service",
    "engines": "ember/engines",
    "gateway": "ember/gateway",
    "clients": "ember/clients",
    "protos/ember/v1": "ember/v1",
}


def source_modules() -> set[str]:
    found: set[str] = set()
    for folder, package in MAPPING.items():
        root = REPO / folder
        for path in root.rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            found.add(f"{package}/{path.relative_to(root).as_posix()}")
    return found


@pytest.mark.timeout(300)
def test_wheel_holds_exactly_the_source_modules(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("ember_serve-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    in_wheel = {n for n in names if n.endswith(".py")}
    assert in_wheel == source_modules()
    # Typed package: the markers and the generated .pyi stubs ship too.
    assert "ember/v1/embed_pb2.pyi" in names
    assert "ember/v1/embed_pb2_grpc.pyi" in names
    assert "ember/service/py.typed" in names


def test_editable_install_imports_from_the_source_folders() -> None:
    import ember.clients.grpc_client
    import ember.engines.types
    import ember.gateway.settings
    import ember.service.server
    import ember.v1.embed_pb2

    assert Path(ember.service.server.__file__) == REPO / "service" / "server.py"
    assert Path(ember.engines.types.__file__) == REPO / "engines" / "types.py"
    assert Path(ember.gateway.settings.__file__) == REPO / "gateway" / "settings.py"
    assert Path(ember.clients.grpc_client.__file__) == REPO / "clients" / "grpc_client.py"
    assert Path(ember.v1.embed_pb2.__file__) == REPO / "protos" / "ember" / "v1" / "embed_pb2.py"
