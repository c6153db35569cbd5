"""The CPU feature reading and the precision policy built on it, on the CPU kinds the team's
machines have (AVX2-only EPYC, Zen 4 with AVX-512 VNNI/BF16, Xeon with AMX): pure functions,
so every ISA's verdict is tested on every machine."""

from __future__ import annotations

import pytest

from ember.engines.cpu_features import CpuFeatures, cpu_features, parse_cpuinfo
from ember.engines.precision import (
    Int8Scheme,
    PrecisionUnsupportedError,
    check_cpu_dtype,
    cpu_modes,
    int8_scheme,
)
from tests.cpu_flags import proc_flags

_BASE = "fpu vme sse sse2 ssse3 sse4_1 sse4_2 popcnt aes avx f16c"
EPYC_AVX2 = f"processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: {_BASE} avx2 fma bmi2\n"
ZEN4 = (
    "processor\t: 0\nmodel name\t: AMD EPYC 9R14\n"
    f"flags\t\t: {_BASE} avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 avx512vl\n"
)
SAPPHIRE_RAPIDS = (
    "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8488C\n"
    f"flags\t\t: {_BASE} avx2 fma avx512f avx512bw avx512_vnni avx_vnni avx512_bf16 "
    "avx512_fp16 amx_bf16 amx_tile amx_int8\n"
    "processor\t: 1\nmodel name\t: ignored second entry\nflags\t\t: fpu\n"
)
ALDER_LAKE = f"model name\t: Intel Core i7-12700\nflags\t\t: {_BASE} avx2 fma avx_vnni\n"


@pytest.mark.parametrize(
    ("text", "isa", "int8_dot", "bf16", "fp16"),
    [
        (EPYC_AVX2, "avx2", False, False, False),
        (ZEN4, "avx512-vnni", True, True, False),
        (SAPPHIRE_RAPIDS, "amx", True, True, True),
        (ALDER_LAKE, "avx2-vnni", True, False, False),
        ("", "baseline", False, False, False),
    ],
    ids=["avx2", "zen4", "amx", "avx-vnni", "empty"],
)
def test_parse_cpuinfo(text: str, isa: str, int8_dot: bool, bf16: bool, fp16: bool) -> None:
    features = parse_cpuinfo(text)
    assert (features.isa, features.int8_dot, features.native_bf16, features.native_fp16) == (
        isa,
        int8_dot,
        bf16,
        fp16,
    )
    assert "sse2" not in features.flags  # only the flags that decide kernels are kept


def test_first_processor_entry_wins() -> None:
    features = parse_cpuinfo(SAPPHIRE_RAPIDS)
    assert features.model_name == "Intel(R) Xeon(R) Platinum 8488C"
    assert features.ordered_flags()[:3] == ["avx2", "fma", "avx512f"]
    assert features.describe().startswith("amx (Intel(R) Xeon(R) Platinum 8488C; avx2 fma")


def test_this_cpu_is_read_from_proc_cpuinfo() -> None:
    flags = proc_flags()
    features = cpu_features()
    assert features is cpu_features()  # read once
    assert ("avx2" in features.flags) == ("avx2" in flags)
    assert features.native_bf16 == bool(flags & {"avx512_bf16", "amx_bf16"})


def test_int8_scheme_follows_int8_dot_products() -> None:
    assert int8_scheme(parse_cpuinfo(EPYC_AVX2), openvino=False) is Int8Scheme.REDUCED_RANGE
    assert int8_scheme(parse_cpuinfo(ALDER_LAKE), openvino=False) is Int8Scheme.FULL_RANGE
    zen4 = int8_scheme(parse_cpuinfo(ZEN4), openvino=False)
    assert zen4 is Int8Scheme.FULL_RANGE_BLOCKWISE_FFN
    # AMX keeps fp32 FFN down-projections: the block-wise kernel was measured on Zen 4 only.
    assert int8_scheme(parse_cpuinfo(SAPPHIRE_RAPIDS), openvino=False) is Int8Scheme.FULL_RANGE


def test_openvino_int8_needs_the_extra_and_int8_dot_products() -> None:
    for text in (ZEN4, SAPPHIRE_RAPIDS, ALDER_LAKE):
        assert int8_scheme(parse_cpuinfo(text), openvino=True) is Int8Scheme.OPENVINO_STATIC
    # without VNNI/AMX the u8s8 kernels saturate and OpenVINO's int8 was never measured
    assert int8_scheme(parse_cpuinfo(EPYC_AVX2), openvino=True) is Int8Scheme.REDUCED_RANGE


def test_int8_scheme_properties() -> None:
    assert [(s.reduce_range, s.blockwise_ffn) for s in Int8Scheme] == [
        (False, False),
        (False, True),
        (False, False),
        (True, False),
    ]


def test_emulated_bf16_is_refused_with_what_to_do() -> None:
    with pytest.raises(PrecisionUnsupportedError) as refused:
        check_cpu_dtype("bfloat16", parse_cpuinfo(EPYC_AVX2), allow_slow=False)
    message = refused.value.message
    assert "avx512_bf16 or amx_bf16" in message  # the missing instructions
    assert "slower than float32" in message  # the expected slowdown
    assert "--dtype auto" in message
    assert "--quantization int8" in message
    assert "--allow-slow-precision" in message  # how to force it


@pytest.mark.parametrize("text", [ZEN4, SAPPHIRE_RAPIDS], ids=["zen4", "amx"])
def test_native_bf16_is_allowed(text: str) -> None:
    check_cpu_dtype("bfloat16", parse_cpuinfo(text), allow_slow=False)


def test_fp16_needs_avx512_fp16_or_amx_fp16() -> None:
    with pytest.raises(PrecisionUnsupportedError, match="avx512_fp16 or amx_fp16"):
        check_cpu_dtype("float16", parse_cpuinfo(ZEN4), allow_slow=False)
    check_cpu_dtype("float16", parse_cpuinfo(SAPPHIRE_RAPIDS), allow_slow=False)


def test_forcing_and_float32_are_never_refused() -> None:
    avx2 = parse_cpuinfo(EPYC_AVX2)
    check_cpu_dtype("bfloat16", avx2, allow_slow=True)
    check_cpu_dtype("float32", CpuFeatures("", frozenset()), allow_slow=False)


def test_cpu_modes_report() -> None:
    avx2 = {m.name: m for m in cpu_modes(parse_cpuinfo(EPYC_AVX2), openvino=True)}
    assert avx2["float32"].served
    assert avx2["int8"].served
    assert "7-bit" in avx2["int8"].note
    assert not avx2["bfloat16"].served
    assert "avx512_bf16" in avx2["bfloat16"].note
    amx = {m.name: m for m in cpu_modes(parse_cpuinfo(SAPPHIRE_RAPIDS), openvino=False)}
    assert amx["bfloat16"].served
    assert amx["float16"].served
    assert "8-bit" in amx["int8"].note
    assert "FFN down-projections in fp32" in amx["int8"].note
    zen4 = {m.name: m for m in cpu_modes(parse_cpuinfo(ZEN4), openvino=False)}
    assert "block-wise int8 activations" in zen4["int8"].note
    assert zen4["int8"].note.startswith("ONNX Runtime")
    zen4_openvino = {m.name: m for m in cpu_modes(parse_cpuinfo(ZEN4), openvino=True)}
    assert zen4_openvino["int8"].note.startswith("OpenVINO, static int8")
    assert zen4["bfloat16"].served
