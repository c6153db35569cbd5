"""The interactive docs in a real browser: headless Chromium (Debian's ``chromium``, installed
by ``scripts/install_browser.sh`` from ``make install-dev``) loads /docs (Swagger UI 5) and
/redoc (ReDoc) from a real server with no internet access needed, runs their JavaScript, and
the rendered page shows the routes. Swagger UI 4 rendered a blank page for FastAPI's OpenAPI 3.1.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.gateway.support import Served

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def rendered(url: str) -> str:
    """The page's DOM after its scripts ran (up to 20 s of virtual time)."""
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: run scripts/install_browser.sh (make install-dev)")
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


ROUTES = ("/v1/embeddings", "/embed", "/rerank", "/v1/rerank", "/v2/rerank", "/predict", "/")


def test_swagger_ui_shows_the_routes(minilm: Served) -> None:
    dom = rendered(f"{minilm.url}/docs")
    paths = set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom))
    assert set(ROUTES) <= paths, sorted(paths)
    assert "OAS 3.1" in dom
    assert "cdn." not in dom  # every asset from the server itself


def test_redoc_shows_the_routes(minilm: Served) -> None:
    dom = rendered(f"{minilm.url}/redoc")
    operations = set(re.findall(r'id="operation/([^"]+)"', dom))
    assert "cohere_v2_rerank_v2_rerank_post" in operations, sorted(operations)
    assert "openai_embeddings_v1_embeddings_post" in operations
    assert "fonts.googleapis" not in dom
    assert "cdn." not in dom
