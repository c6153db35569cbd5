#!/usr/bin/env bash
# Prepare the GPU benchmark's device run: fill .whl/ (cp312 manylinux wheels of Ember's serving
# dependencies, the all-MiniLM-L6-v2 tokenizer files, tree-info.txt), check that the set is
# complete and small enough, and print the exact `run` invocation. Never commit .whl/.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
grep -qxF '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
exec "${PYTHON:-.venv/bin/python}" -m benchmarks.gpu.wheels "$@"
