"""The C++ client (clients/cpp), built with CMake from the committed stubs against Debian's
gRPC C++ and protobuf, calls real servers: its answers equal the Python client's."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import REPO, Servers, check_tour, run_tour

pytestmark = pytest.mark.clients

CPP = REPO / "clients" / "cpp"


@pytest.fixture(scope="module")
def tour() -> Path:
    """The tour example, built (no optimisation: the build is most of this test's time)."""
    build = REPO / ".build" / "clients" / "cpp"
    for cmd in (
        ["cmake", "-S", str(CPP), "-B", str(build), "-DCMAKE_BUILD_TYPE="],
        ["cmake", "--build", str(build), "--parallel", "2"],
    ):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
        assert done.returncode == 0, f"{cmd}: {done.stdout[-4000:]}{done.stderr[-4000:]}"
    return build / "tour"


def test_tour_matches_python_client(
    tour: Path, servers: Servers, reference: dict[str, Any]
) -> None:
    check_tour(run_tour([str(tour), *servers.args()], cwd=CPP), reference)
