"""The Go client (clients/go), built offline from the committed stubs against Debian's Go
packages, calls real servers: its answers equal the Python client's."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import REPO, Servers, check_tour, run_tour, tool_env

pytestmark = pytest.mark.clients

MODULE = "github.com/ember-serve/ember/clients/go"
#: Debian's golang-*-dev packages install Go sources here (GOPATH layout).
DEBIAN_GOPATH = "/usr/share/gocode"


def go_env(gopath: Path) -> dict[str, str]:
    """GOPATH mode over the module's link and Debian's sources: no module proxy, no network."""
    return {
        **tool_env(),
        "GO111MODULE": "off",
        "GOPATH": f"{gopath}{os.pathsep}{DEBIAN_GOPATH}",
        "GOFLAGS": "",
    }


@pytest.fixture(scope="module")
def tour(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tour example, built."""
    gopath = tmp_path_factory.mktemp("gopath")
    link = gopath / "src" / MODULE
    link.parent.mkdir(parents=True)
    link.symlink_to(REPO / "clients" / "go")
    binary = gopath / "tour"
    env = {**os.environ, **go_env(gopath)}
    unformatted = subprocess.run(
        ["gofmt", "-l", "."], cwd=link, capture_output=True, text=True, check=True
    ).stdout
    assert not unformatted, f"not gofmt-formatted: {unformatted}"
    for cmd in (["go", "vet", "./..."], ["go", "build", "-o", str(binary), "./examples/tour"]):
        done = subprocess.run(cmd, cwd=link, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"{cmd}: {done.stderr}"
    return binary


def test_tour_matches_python_client(
    tour: Path, servers: Servers, reference: dict[str, Any]
) -> None:
    check_tour(run_tour([str(tour), *servers.args()], cwd=REPO), reference)
