"""benchmarks.paired: the per-round ratio table and the /proc CPU reading it reports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from benchmarks.paired import Burst, process_cpu_s, report


def test_report_takes_the_median_of_per_round_ratios_to_the_baseline() -> None:
    bursts = {
        "infinity": [Burst(100.0, 550.0, 3.0, 0.2), Burst(300.0, 1650.0, 3.2, 0.2)],
        # 2x then 1x per round: the ratio of medians (400/200 = 2x) would hide the drift
        "ember fp32": [Burst(200.0, 1100.0, 2.0, 0.1), Burst(300.0, 1650.0, 2.2, 0.1)],
    }
    table = report(bursts, "infinity", "req/s").splitlines()
    assert table[0].startswith("| target | req/s median (rounds) | × infinity")
    assert table[2] == "| infinity | 200 (100, 300) | – | 3.10 | 0.20 |"
    assert table[3] == "| ember fp32 | 250 (200, 300) | **1.50×** (2.00, 1.00) | 2.10 | 0.10 |"


def test_report_in_tokens_per_second() -> None:
    bursts = {
        "sentence-transformers": [Burst(4.0, 1000.0, 100.0, 0.0)],
        "ember fp32": [Burst(5.0, 1300.0, 90.0, 0.8)],
    }
    row = report(bursts, "sentence-transformers", "tok/s").splitlines()[3]
    assert row == "| ember fp32 | 1,300 (1300) | **1.30×** (1.30) | 90.00 | 0.80 |"


def test_process_cpu_counts_the_children_of_a_server() -> None:
    # A parent that starts a busy child and waits: the child's CPU counts for the parent's pid.
    code = (
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'while True: pass'])\n"
        "print(child.pid, flush=True)\n"
        "child.wait()\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        before = process_cpu_s(parent.pid)
        time.sleep(1.5)
        # the waiting parent alone would add ~0; the spinning child adds up to 1.5 s (less on a
        # loaded machine, never near 0)
        assert process_cpu_s(parent.pid) - before > 0.05
    finally:
        os.kill(child, signal.SIGKILL)
        parent.wait(timeout=10)
