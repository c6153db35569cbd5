#!/usr/bin/env bash
# Installs headless Chromium from Debian for the /docs browser test (tests/gateway/test_docs_browser.py).
# Does nothing when a chromium binary is already on PATH; needs root (or sudo) otherwise.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# Debian's package lists can be missing on a fresh machine: refresh them once when needed.
if ! apt-cache show chromium >/dev/null 2>&1; then
    $SUDO apt-get update -qq -o DPkg::Lock::Timeout=600
fi
# Wait for another apt run (a shared machine) instead of failing on its lock.
$SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends chromium >/dev/null
