"""The CPU's instruction-set features that decide Ember's CPU kernels, read once per process.

Owns the one place Ember looks at the processor: which x86 extensions matter for its CPU
precision modes (AVX2, AVX-512, VNNI int8 dot products, native bf16, AMX tiles), read from
``/proc/cpuinfo`` on first use and cached. Everything that depends on the CPU (the int8
quantization scheme, refusing emulated bf16, ``/info``, ``ember info``, the benchmark report)
asks :func:`cpu_features`, never the flags directly.

Pure apart from :func:`cpu_features` reading the file; :func:`parse_cpuinfo` is unit-tested on
the texts of the CPU kinds the team's machines have.
"""

from __future__ import annotations

import functools
import platform
from dataclasses import dataclass
from pathlib import Path

#: The flags Ember's kernels depend on, in the order they are reported.
RELEVANT_FLAGS: tuple[str, ...] = (
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    "amx_fp16",
)

_CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class CpuFeatures:
    """The relevant instruction-set extensions of the CPU this process runs on."""

    #: The processor's model name as the kernel reports it ("" when unknown).
    model_name: str
    #: The subset of :data:`RELEVANT_FLAGS` the CPU has.
    flags: frozenset[str]

    @property
    def int8_dot(self) -> bool:
        """Whether int8 dot products run in hardware without int16 saturation (VNNI or AMX).

        Without them, ONNX Runtime's u8s8 kernels sum pairs of u8*s8 products in int16
        (``vpmaddubsw``), which saturates on full-range weights and costs accuracy.
        """
        return bool(self.flags & {"avx512_vnni", "avx_vnni", "amx_int8"})

    @property
    def native_bf16(self) -> bool:
        """Whether bf16 matrix products run in hardware (AVX-512 BF16 or AMX-BF16); without
        them PyTorch emulates bf16 GEMMs, several times slower than float32."""
        return bool(self.flags & {"avx512_bf16", "amx_bf16"})

    @property
    def native_fp16(self) -> bool:
        """Whether fp16 matrix products run in hardware (AVX-512 FP16 or AMX-FP16)."""
        return bool(self.flags & {"avx512_fp16", "amx_fp16"})

    @property
    def isa(self) -> str:
        """A short name for the CPU's class, as reported next to every figure:
        ``amx``, ``avx512-vnni``, ``avx512``, ``avx2-vnni``, ``avx2`` or ``baseline``."""
        if {"amx_tile", "amx_int8"} <= self.flags or {"amx_tile", "amx_bf16"} <= self.flags:
            return "amx"
        if "avx512f" in self.flags:
            return "avx512-vnni" if "avx512_vnni" in self.flags else "avx512"
        if "avx2" in self.flags:
            return "avx2-vnni" if "avx_vnni" in self.flags else "avx2"
        return "baseline"

    def ordered_flags(self) -> list[str]:
        """The CPU's relevant flags in :data:`RELEVANT_FLAGS` order."""
        return [flag for flag in RELEVANT_FLAGS if flag in self.flags]

    def describe(self) -> str:
        """One line for logs and reports: ISA class, model name and flags."""
        flags = " ".join(self.ordered_flags()) or "none"
        name = self.model_name or platform.machine() or "unknown CPU"
        return f"{self.isa} ({name}; {flags})"


def parse_cpuinfo(text: str) -> CpuFeatures:
    """The features described by a ``/proc/cpuinfo`` text (its first processor's entry)."""
    model_name = ""
    flags: frozenset[str] = frozenset()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip()
        if key == "model name" and not model_name:
            model_name = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split()) & frozenset(RELEVANT_FLAGS)
        if model_name and flags:
            break
    return CpuFeatures(model_name=model_name, flags=flags)


@functools.cache
def cpu_features() -> CpuFeatures:
    """The features of the CPU this process runs on, read once. On a system without
    ``/proc/cpuinfo`` (not Linux) no extension is assumed, so no fast path is taken blindly."""
    try:
        return parse_cpuinfo(_CPUINFO.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return CpuFeatures(model_name=platform.processor(), flags=frozenset())
