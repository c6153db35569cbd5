"""The CPU's flags read straight from /proc/cpuinfo, independently of Ember's own reader, so
tests can check Ember's CPU policy against the machine they run on."""

from __future__ import annotations


def proc_flags() -> set[str]:
    """Every flag of the first processor in /proc/cpuinfo."""
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        return set(next(line for line in handle if line.startswith("flags")).split())


#: Whether this CPU multiplies bf16 matrices in hardware (else bf16 modes must be refused).
NATIVE_BF16 = bool(proc_flags() & {"avx512_bf16", "amx_bf16"})
