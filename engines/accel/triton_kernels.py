# Triton kernels read their parameters' annotations (``tl.constexpr``) themselves; the other
# parameters must stay unannotated, so the untyped-def check is off for this module only.
# mypy: disable-error-code="no-untyped-def"
# Triton's convention: pointers and compile-time constants in capitals.
# ruff: noqa: N803, N806
"""Triton kernels of the packed engine: the elementwise and per-row work between the GEMMs.

Imported only where ``triton`` is installed (the wrappers in :mod:`ember.engines.accel.kernels`
import it lazily and fall back to torch). Kernel sources are plain functions, turned into
Triton kernels on first use by :func:`kernel`, so a process that sets ``TRITON_INTERPRET=1``
before the first call runs them in Triton's interpreter (the CPU tests do).

All kernels read bf16/fp16 (or fp32) and compute in float32 registers; one program handles one
token row, and offsets are int64 (``M * N`` can pass 2**31 at 32k-token batches). Quantizing
variants write float8_e4m3fn plus one float32 scale per row (``max|y| / 448``, floored at 1e-12,
the scheme in :mod:`ember.engines.accel.fp8`), dividing with IEEE rounding (``div_rn``; Triton's
``/`` is the 2-ulp ``div.full``) so that the codes equal torch's for the same inputs.
"""

import os
from collections.abc import Callable
from typing import Any

import triton  # type: ignore[import-untyped,import-not-found,unused-ignore]
import triton.language as tl  # type: ignore[import-untyped,import-not-found,unused-ignore]


def _rmsnorm(
    X,
    DELTA,
    W,
    OUT,
    Q,
    S,
    eps,
    N: tl.constexpr,
    BLOCK: tl.constexpr,
    HAS_DELTA: tl.constexpr,
    QUANT: tl.constexpr,
):
    # y = x * rsqrt(mean(x^2) + eps) * w, where x = X (+ DELTA, written back into X first).
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < N
    ptrs = X + row * N + cols
    x = tl.load(ptrs, mask=mask, other=0.0).to(tl.float32)
    if HAS_DELTA:
        d = tl.load(DELTA + row * N + cols, mask=mask, other=0.0).to(tl.float32)
        # Round the residual to its storage dtype before normalising it, as the reference does.
        summed = (x + d).to(X.dtype.element_ty)
        tl.store(ptrs, summed, mask=mask)
        x = summed.to(tl.float32)
    var = tl.sum(x * x, axis=0) / N
    rstd = 1.0 / tl.sqrt(var + eps)
    w = tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
    y = x * rstd * w
    if QUANT:
        scale = tl.math.div_rn(tl.maximum(tl.max(tl.abs(y), axis=0), 1e-12), 448.0)
        q = tl.clamp(tl.math.div_rn(y, scale), -448.0, 448.0)
        tl.store(Q + row * N + cols, q.to(Q.dtype.element_ty), mask=mask)
        tl.store(S + row, scale)
    else:
        tl.store(OUT + row * N + cols, y.to(OUT.dtype.element_ty), mask=mask)


def _silu_mul(GU, OUT, INNER: tl.constexpr, BLOCK: tl.constexpr, GELU: tl.constexpr):
    # OUT[m, :] = act(GU[m, :INNER]) * GU[m, INNER:]; grid (M, cdiv(INNER, BLOCK)).
    # act is SiLU, g * sigmoid(g), or with GELU the tanh-approximated GELU (Gemma3's
    # gelu_pytorch_tanh): 0.5 g (1 + tanh(z)) = g * sigmoid(2 z), z = sqrt(2/pi) (g + 0.044715 g^3).
    row = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < INNER
    base = GU + row * (2 * INNER)
    g = tl.load(base + cols, mask=mask, other=0.0).to(tl.float32)
    u = tl.load(base + INNER + cols, mask=mask, other=0.0).to(tl.float32)
    if GELU:
        y = g * tl.sigmoid(1.5957691216057308 * (g + 0.044715 * g * g * g)) * u
    else:
        y = g * tl.sigmoid(g) * u
    tl.store(OUT + row * INNER + cols, y.to(OUT.dtype.element_ty), mask=mask)


def _silu_mul_quant(GU, Q, S, INNER: tl.constexpr, BLOCK: tl.constexpr, GELU: tl.constexpr):
    # Two passes over the row: max|act(g) * u|, then quantize (the re-read hits L2); act as in
    # _silu_mul.
    row = tl.program_id(0).to(tl.int64)
    base = GU + row * (2 * INNER)
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for start in range(0, INNER, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        mask = cols < INNER
        g = tl.load(base + cols, mask=mask, other=0.0).to(tl.float32)
        u = tl.load(base + INNER + cols, mask=mask, other=0.0).to(tl.float32)
        if GELU:
            y = g * tl.sigmoid(1.5957691216057308 * (g + 0.044715 * g * g * g)) * u
        else:
            y = g * tl.sigmoid(g) * u
        acc = tl.maximum(acc, tl.abs(y))
    scale = tl.math.div_rn(tl.maximum(tl.max(acc, axis=0), 1e-12), 448.0)
    for start in range(0, INNER, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        mask = cols < INNER
        g = tl.load(base + cols, mask=mask, other=0.0).to(tl.float32)
        u = tl.load(base + INNER + cols, mask=mask, other=0.0).to(tl.float32)
        if GELU:
            y = g * tl.sigmoid(1.5957691216057308 * (g + 0.044715 * g * g * g)) * u
        else:
            y = g * tl.sigmoid(g) * u
        q = tl.clamp(tl.math.div_rn(y, scale), -448.0, 448.0)
        tl.store(Q + row * INNER + cols, q.to(Q.dtype.element_ty), mask=mask)
    tl.store(S + row, scale)


def _quant_rows(X, Q, S, N: tl.constexpr, BLOCK: tl.constexpr):
    # Per-row fp8 quantization of a contiguous (M, N) tensor, two passes like _silu_mul_quant.
    row = tl.program_id(0).to(tl.int64)
    base = X + row * N
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for start in range(0, N, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        x = tl.load(base + cols, mask=cols < N, other=0.0).to(tl.float32)
        acc = tl.maximum(acc, tl.abs(x))
    scale = tl.math.div_rn(tl.maximum(tl.max(acc, axis=0), 1e-12), 448.0)
    for start in range(0, N, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        mask = cols < N
        x = tl.load(base + cols, mask=mask, other=0.0).to(tl.float32)
        q = tl.clamp(tl.math.div_rn(x, scale), -448.0, 448.0)
        tl.store(Q + row * N + cols, q.to(Q.dtype.element_ty), mask=mask)
    tl.store(S + row, scale)


def _qk_norm_rope(
    QKV,
    POS,
    COS,
    SIN,
    QW,
    KW,
    QO,
    KO,
    VO,
    eps,
    HQ: tl.constexpr,
    HK: tl.constexpr,
    D: tl.constexpr,
    HB: tl.constexpr,
    HAS_NORM: tl.constexpr,
):
    # One token per program. QKV row = [HQ query heads | HK key heads | HK value heads] x D.
    # Query/key heads: optional per-head RMSNorm (Qwen3's q_norm/k_norm), then rotary embedding
    # (rotate-half convention: out1 = x1*cos - x2*sin, out2 = x2*cos + x1*sin); value heads are
    # copied. Outputs are contiguous (M, HQ, D), (M, HK, D), (M, HK, D).
    HALF: tl.constexpr = D // 2
    NT: tl.constexpr = HQ + 2 * HK
    tok = tl.program_id(0).to(tl.int64)
    heads = tl.arange(0, HB)[:, None]
    cols = tl.arange(0, HALF)[None, :]
    full = cols < HALF
    valid = (heads < NT) & full
    src = QKV + tok * (NT * D) + heads * D + cols
    x1 = tl.load(src, mask=valid, other=0.0).to(tl.float32)
    x2 = tl.load(src + HALF, mask=valid, other=0.0).to(tl.float32)
    is_q = (heads < HQ) & full
    is_k = (heads >= HQ) & (heads < HQ + HK) & full
    is_v = (heads >= HQ + HK) & valid
    if HAS_NORM:
        var = (tl.sum(x1 * x1, axis=1) + tl.sum(x2 * x2, axis=1)) / D
        rstd = (1.0 / tl.sqrt(var + eps))[:, None]
        qw1 = tl.load(QW + cols).to(tl.float32)
        qw2 = tl.load(QW + HALF + cols).to(tl.float32)
        kw1 = tl.load(KW + cols).to(tl.float32)
        kw2 = tl.load(KW + HALF + cols).to(tl.float32)
        n1 = x1 * rstd * tl.where(is_q, qw1, kw1)
        n2 = x2 * rstd * tl.where(is_q, qw2, kw2)
    else:
        n1 = x1
        n2 = x2
    pos = tl.load(POS + tok)
    c = tl.load(COS + pos * HALF + cols)
    s = tl.load(SIN + pos * HALF + cols)
    o1 = n1 * c - n2 * s
    o2 = n2 * c + n1 * s
    q_dst = QO + tok * (HQ * D) + heads * D + cols
    tl.store(q_dst, o1.to(QO.dtype.element_ty), mask=is_q)
    tl.store(q_dst + HALF, o2.to(QO.dtype.element_ty), mask=is_q)
    k_dst = KO + tok * (HK * D) + (heads - HQ) * D + cols
    tl.store(k_dst, o1.to(KO.dtype.element_ty), mask=is_k)
    tl.store(k_dst + HALF, o2.to(KO.dtype.element_ty), mask=is_k)
    v_dst = VO + tok * (HK * D) + (heads - HQ - HK) * D + cols
    tl.store(v_dst, x1.to(VO.dtype.element_ty), mask=is_v)
    tl.store(v_dst + HALF, x2.to(VO.dtype.element_ty), mask=is_v)


#: Kernel sources by name. None takes the token count as an argument (it is the grid), so a
#: new batch size never compiles a new variant.
SOURCES: dict[str, Callable[..., None]] = {
    "rmsnorm": _rmsnorm,
    "silu_mul": _silu_mul,
    "silu_mul_quant": _silu_mul_quant,
    "quant_rows": _quant_rows,
    "qk_norm_rope": _qk_norm_rope,
}

_built: dict[tuple[str, bool], Any] = {}


def interpreting() -> bool:
    """Whether Triton runs kernels in its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def kernel(name: str) -> Any:
    """The Triton kernel ``name``, built on first use in the current mode (compiled or
    interpreted)."""
    key = (name, interpreting())
    built = _built.get(key)
    if built is None:
        built = triton.jit(SOURCES[name])
        _built[key] = built
    return built


def next_power_of_2(n: int) -> int:
    """The smallest power of two >= ``n``."""
    result: int = triton.next_power_of_2(n)
    return result


def _signatures(dtype: str) -> dict[str, tuple[dict[str, str], dict[str, Any]]]:
    """Representative argument types and constants of every kernel (Qwen3-4B shapes)."""
    act, fp8, f32, i64 = f"*{dtype}", "*fp8e4nv", "*fp32", "*i64"
    rms = {"X": act, "DELTA": act, "W": act, "eps": "fp32"}
    return {
        "rmsnorm": (
            {**rms, "OUT": act, "Q": act, "S": act},
            {"N": 2560, "BLOCK": 4096, "HAS_DELTA": True, "QUANT": False},
        ),
        "rmsnorm_quant": (
            {**rms, "OUT": fp8, "Q": fp8, "S": f32},
            {"N": 2560, "BLOCK": 4096, "HAS_DELTA": True, "QUANT": True},
        ),
        "silu_mul": ({"GU": act, "OUT": act}, {"INNER": 9728, "BLOCK": 1024, "GELU": False}),
        "silu_mul_quant": (
            {"GU": act, "Q": fp8, "S": f32},
            {"INNER": 9728, "BLOCK": 4096, "GELU": False},
        ),
        # Gemma3's GELU-tanh variants (EmbeddingGemma's MLP is 1152 wide; Gemma3-4B's 10240).
        "gelu_mul": ({"GU": act, "OUT": act}, {"INNER": 10240, "BLOCK": 1024, "GELU": True}),
        "gelu_mul_quant": (
            {"GU": act, "Q": fp8, "S": f32},
            {"INNER": 10240, "BLOCK": 4096, "GELU": True},
        ),
        "quant_rows": ({"X": act, "Q": fp8, "S": f32}, {"N": 4096, "BLOCK": 4096}),
        "qk_norm_rope": (
            {
                "QKV": act,
                "POS": i64,
                "COS": f32,
                "SIN": f32,
                "QW": act,
                "KW": act,
                "QO": act,
                "KO": act,
                "VO": act,
                "eps": "fp32",
            },
            {"HQ": 32, "HK": 8, "D": 128, "HB": 64, "HAS_NORM": True},
        ),
    }


#: Report labels that compile another kernel's source with other constants.
_SOURCE_OF = {
    "rmsnorm_quant": "rmsnorm",
    "gelu_mul": "silu_mul",
    "gelu_mul_quant": "silu_mul_quant",
}


def compile_report(capability: int = 90, dtype: str = "bf16") -> dict[str, dict[str, int]]:
    """Compile every kernel for ``sm_<capability>`` without a GPU (Triton's bundled ptxas) and
    return per kernel its registers, spills and shared memory; raises if one does not compile.

    A dry run for machines without a GPU: what compiles here compiles on the GPU, and spills or
    register pressure show up before any device time is spent.
    """
    from triton.backends.compiler import GPUTarget  # type: ignore[import-untyped,import-not-found,unused-ignore]
    from triton.compiler import ASTSource  # type: ignore[import-untyped,import-not-found,unused-ignore]

    report: dict[str, dict[str, int]] = {}
    for label, (types, constants) in _signatures(dtype).items():
        name = _SOURCE_OF.get(label, label)
        fn = triton.jit(SOURCES[name])
        signature = {**types, **{key: "constexpr" for key in constants}}
        ordered = {arg: signature[arg] for arg in fn.arg_names}
        # What the JIT infers at launch for tensors from the allocator: 16-byte aligned pointers.
        aligned = {
            (i,): [["tt.divisibility", 16]]
            for i, arg in enumerate(fn.arg_names)
            if ordered[arg].startswith("*")
        }
        # The warps the wrappers in kernels.py launch these shapes with.
        warps = 4 if label in ("silu_mul", "gelu_mul") else 8
        compiled = triton.compile(
            ASTSource(fn=fn, signature=ordered, constexprs=constants, attrs=aligned),
            target=GPUTarget("cuda", capability, 32),
            options={"num_warps": warps},
        )
        ptx = compiled.asm["ptx"]
        vector = _count(r"ld\.global(?:\.\w+)*\.v[248]\.", ptx)
        report[label] = {
            "shared": int(compiled.metadata.shared),
            # 16-byte vector loads (v4.b32) vs narrower ones; only rope's position is scalar.
            "vector_loads": vector,
            "scalar_loads": _count(r"ld\.global", ptx) - vector,
            **_resources(compiled.asm),
        }
    return report


def _count(pattern: str, text: str) -> int:
    import re

    return len(re.findall(pattern, text))


def _resources(asm: dict[str, Any]) -> dict[str, int]:
    """Registers and spill bytes of a compiled kernel, read with the bundled ``cuobjdump``."""
    import re
    import subprocess
    import tempfile
    from pathlib import Path

    tool = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    if not tool.is_file():
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        cubin = Path(tmp) / "kernel.cubin"
        cubin.write_bytes(asm["cubin"])
        text = subprocess.run(
            [str(tool), "--dump-resource-usage", str(cubin)],
            capture_output=True, text=True, check=False,
        ).stdout  # fmt: skip
    found: dict[str, int] = {}
    for key, pattern in (("registers", r"REG:(\d+)"), ("stack", r"STACK:(\d+)"),
                         ("local", r"LOCAL:(\d+)")):  # fmt: skip
        match = re.search(pattern, text)
        if match:
            found[key] = int(match.group(1))
    return found
