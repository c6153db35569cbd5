"""The CUDA fast path: packed (varlen) batches, fused Triton kernels and FP8 linear layers.

Design
------
``PackedEngine`` (:mod:`.engine`) is a ``TorchEngine`` whose forward never pads. A batch of
``B`` encodings becomes one row of ``M = sum(len)`` tokens plus ``cu_seqlens`` offsets
(:mod:`.packing`; integer inputs staged through one pinned buffer, one non-blocking copy).
Every linear layer then runs on ``(M, hidden)``: on mixed lengths that is up to ~2x fewer
FLOPs than a padded batch, and it needs no sorting. Attention runs per sequence with the
flash-attention varlen kernel built into PyTorch (:mod:`.attention`; a per-sequence SDPA loop
on CPU). The forward is Ember's own, built from the transformers model's weights
(:mod:`.encoder` for BERT/RoBERTa/XLM-R, :mod:`.decoder` for Qwen2/Qwen3/Llama/Mistral,
:mod:`.gemma3` for Gemma3 text models incl. bidirectional EmbeddingGemma, whose sliding-window
layers pass a window to the attention; :mod:`.model` says which folders qualify), so it does
not depend on how a transformers release threads masks and attention kwargs. Pooling
(:mod:`.pooling`) and heads work on the packed states; outputs equal ``TorchEngine``'s
(tests/parity/test_accel_parity.py).

At the 4B decoder shape the GEMMs dominate (~200 MFLOP per token per layer against ~8 for
500-token attention), so the design keeps them large (fused QKV and gate/up weights, 16-32k
token batches) and keeps everything between them to one pass each (:mod:`.kernels`): residual
add + RMSNorm, per-head q/k RMSNorm + RoPE + q/k/v split, SiLU*mul. Those run as Triton kernels
on CUDA (float32 math in registers, bf16 in and out) with torch twins on CPU.

FP8 (:mod:`.fp8`, ``quantization="fp8"``, compute capability >= 8.9): weights E4M3 with one
scale per output channel, activations E4M3 with one scale per token computed on the fly and
fused into the kernel that produces them (RMSNorm -> fp8 for QKV and gate/up, SiLU*mul -> fp8
for down; one quantization pass for the attention output), GEMMs by ``torch._scaled_mm``
(cuBLAS rowwise scaling, bf16 out, bias fused). Embeddings, norms, attention, heads and pooling
stay bf16/float32. Elsewhere fp8 raises ``BackendUnavailableError`` naming the hardware needed.

Budget at the 4B shape (hidden 2560, 36 layers, MLP 9728, 32 query / 8 key-value heads of 128)
-------------------------------------------------------------------------------------------
Per token per layer the GEMMs are 2 x (2560 x 6144 + 4096 x 2560 + 3 x 2560 x 9728) = 201.9
MFLOP (7.27 GFLOP per token for 36 layers); causal attention over 500-token inputs adds ~4.1
MFLOP. A 32k-token batch is 6.6 TFLOP of GEMMs per layer: 6.7 ms at the 989 TFLOP/s bf16 peak,
~9.4 ms at a realistic ~700 from cuBLAS. The passes between GEMMs move, per layer at 32k
tokens: RMSNorm 2 x 0.34 GB (read x, write h; the residual add rides in the GEMM epilogue via
``addmm_``), q/k-norm+RoPE 0.8 GB, SiLU*mul 1.9 GB: ~3.4 GB, ~1.2 ms at ~2.8 TB/s, plus ~0.4 ms
of flash attention. Floor ~11 ms per layer, i.e. ~60 % MFU: the margin is in the GEMM rate.
FP8 halves GEMM time (rowwise ``_scaled_mm`` ~1.2-1.4 PFLOP/s) and adds one quantization pass
over the attention output; the fused quantizing kernels keep the other passes at one each, so
~1.6x over bf16 needs the fp8 GEMMs near their peak. CUDA graphs are not used: the launch cost
per forward (~10 launches per layer) only matters for batches of a few hundred tokens; the
benchmark script measures it (launch overhead on 5-token batches) before anyone builds them.

What is measured where
----------------------
CPU (the normal test suite): packing, pooling and fp8 math (tests/unit/test_fp8.py,
test_accel_*.py); the Triton kernels in Triton's interpreter against their torch twins, and
compiled for sm_90 with the bundled ptxas (registers/spills, no GPU needed:
``triton_kernels.compile_report()``); the packed forward against transformers on tiny random
models of all seven architectures and Gemma3, float32, cosine >= 0.9999
(tests/parity/test_accel_parity.py, test_gemma3_parity.py),
and the fp8 forward (quantized GEMMs through ``torch._scaled_mm``'s CPU implementation).

GPU only (tests/gpu/test_cuda_engine.py, ``-m gpu``): the flash varlen kernel against SDPA per
sequence, the compiled kernels against the torch twins, packed bf16 against transformers
float32 (cosine >= 0.999), fp8 against bf16, and the speed numbers (throughput, MFU, the
per-batch launch overhead on 5-token batches) in the benchmark script.
"""
