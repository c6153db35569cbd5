"""The Java client (clients/java), built offline with javac from the committed stubs against
Debian's grpc-java and protobuf jars, calls real servers: its answers equal the Python client's."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from tests.clients.conftest import REPO, Servers, check_tour, run_tour

pytestmark = pytest.mark.clients

JAVA = REPO / "clients" / "java"


@pytest.fixture(scope="module")
def classpath() -> str:
    """The run-time classpath of the built client and examples."""
    done = subprocess.run(
        [str(JAVA / "build.sh")], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr
    return ":".join(
        str(JAVA / part) if part.startswith("build/") else part
        for part in done.stdout.strip().splitlines()[-1].split(":")
    )


def test_tour_matches_python_client(
    classpath: str, servers: Servers, reference: dict[str, Any]
) -> None:
    cmd = ["java", "-cp", classpath, "com.ember.examples.Tour", *servers.args()]
    check_tour(run_tour(cmd, cwd=JAVA), reference)
