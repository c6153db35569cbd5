"""End to end: the installed ``ember`` CLI on this machine's CPU — ``ember info`` reports the
CPU as /proc/cpuinfo has it, an emulated ``--dtype`` is refused at start with one clear line
(never a traceback), and bad precision values exit with a usage error."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cpu_flags import NATIVE_BF16, proc_flags

EMBER = shutil.which("ember", path=str(Path(sys.executable).parent))


def ember(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    assert EMBER, "the ember command is not installed"
    return subprocess.run(
        [EMBER, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_info_reports_this_cpu() -> None:
    done = ember("info", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    flags = proc_flags()
    assert ("avx2" in report["cpu"]["flags"]) == ("avx2" in flags)
    assert ("avx512_vnni" in report["cpu"]["flags"]) == ("avx512_vnni" in flags)
    modes = {m["name"]: m for m in report["precision_modes"]}
    assert modes["float32"]["served"]
    assert modes["bfloat16"]["served"] == bool(flags & {"avx512_bf16", "amx_bf16"})
    text = ember("info")
    assert text.stdout.startswith(f"cpu: {report['cpu']['isa']} (")


@pytest.mark.skipif(
    NATIVE_BF16,
    reason="bf16 is native on this CPU: ember serve --dtype bfloat16 serves (parity tier)",
)
def test_emulated_bf16_is_refused_at_start() -> None:
    done = ember("serve", "--dtype", "bfloat16", "--grpc-port", "0", "--http", "false")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ember: error: --dtype bfloat16 on this CPU")
    assert "avx512_bf16 or amx_bf16" in last
    assert "--allow-slow-precision" in last


@pytest.mark.parametrize(
    ("flag", "value", "word"),
    [("--dtype", "float8", "dtype"), ("--quantization", "int4", "quantization")],
)
def test_unknown_precision_values_exit_with_one_line(flag: str, value: str, word: str) -> None:
    done = ember("serve", flag, value, "--grpc-port", "0", "--http", "false", timeout=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        f"ember: error: {word} must be "
        + (
            "one of ('auto', 'float32', 'bfloat16', 'float16')"
            if word == "dtype"
            else "none or one of ('int8', 'fp8')"
        )
        + f", got {value!r}"
    )


def test_prepare_a_hub_id_from_the_cache(tmp_path: Path, minilm_path: Path) -> None:
    from tests.unit.test_hub_models import COMMIT, REPO, lay_out_cache

    cache = tmp_path / "hub"
    lay_out_cache(cache, minilm_path, REPO, COMMIT)
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    run = [EMBER or "ember", "prepare", "--backend", "torch", "--log-level", "warning"]
    done = subprocess.run(
        [*run, "--model", REPO], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"ember: prepared {REPO} (torch, float32 on cpu)")
    missing = subprocess.run(
        [*run, "--model", "nobody/nothing"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert missing.returncode == 2
    assert f"nor in the Hugging Face cache {str(cache)!r}" in missing.stderr
