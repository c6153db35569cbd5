"""The TypeScript client (clients/typescript), compiled with tsc from the committed stubs and run
on Node.js, calls real servers: its answers equal the Python client's."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import REPO, Servers, check_tour, run_tour

pytestmark = pytest.mark.clients

PACKAGE = REPO / "clients" / "typescript"


@pytest.fixture(scope="module")
def tour() -> Path:
    """The tour example, compiled (the package's dependencies installed by npm ci)."""
    tsc = PACKAGE / "node_modules" / ".bin" / "tsc"
    assert tsc.exists(), "run `npm ci` in clients/typescript (make test-clients does)"
    done = subprocess.run(
        [str(tsc), "-p", "tsconfig.json"],
        cwd=PACKAGE,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return PACKAGE / "dist" / "examples" / "tour.js"


def test_tour_matches_python_client(
    tour: Path, servers: Servers, reference: dict[str, Any]
) -> None:
    check_tour(run_tour(["node", str(tour), *servers.args()], cwd=PACKAGE), reference)
