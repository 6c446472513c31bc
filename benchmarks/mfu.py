"""Model FLOPs utilisation: the FLOPs of a Llama-shaped training step, and the bf16 ceiling.

    F = 6 N_dec P  +  6 d V P_head  +  6 L d_attn R T (T + 1)      (`step_flops`)

2 FLOPs per multiply-add, backward = 2 x forward, so forward + backward = 3 x forward;
recomputation (a checkpointed head's second forward) is not counted: model FLOPs, not hardware
FLOPs.
- N_dec = L (2 d d_attn + 2 d d_kv + 3 d f), the matmul weights of the decoder layers (q and o,
  k and v, gate up and down); d_attn = heads x head_dim, d_kv = kv_heads x head_dim; RMSNorms and
  the embedding lookup do no matmul;
- P = R x T, every position of the R rows of width T that the decoder computes, padding included;
- P_head, the positions whose logits are computed: P for full logits, the N positions that
  predict a response token for a chunked head (`training.logprobs.sequence_logps`);
- attention (QK^T and AV): 4 d_attn t FLOPs forward per layer for a query with t keys, over the
  causal triangle of every row, sum_{t=1..T} t = T (T + 1) / 2, whatever the mask (padding and
  prefix-shared blocks are counted as causal), x 3 with the backward.

MFU = F / step time / ceiling, against the bf16 GEMM rate measured in the same run
(`gemm_ceiling`: n x n x n on random normal inputs, CUDA events, median) and against the device's
datasheet dense bf16 peak (`datasheet_tflops`; none for an unknown device).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

FLOP_FORMULA = (
    "F = 6 N_dec P + 6 d V P_head + 6 L d_attn R T (T + 1); N_dec = L (2 d d_attn + 2 d d_kv + "
    "3 d f); P = R T positions through the decoder (padding included); P_head = P for full "
    "logits, the response-token predictions for the chunked head; attention over the causal "
    "triangle of every row; recomputation not counted"
)
# Dense bf16 tensor-core peak (no sparsity), TFLOP/s, by the first substring of the device name.
DATASHEET_TFLOPS = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.4),  # SXM: "NVIDIA H100 80GB HBM3"
    ("H200 NVL", 835.0),
    ("H200", 989.4),
    ("A100", 312.0),
    ("L40S", 362.1),
)


@dataclass(frozen=True)
class Arch:
    """A Llama-shaped decoder, in `LlamaConfig`'s terms."""

    hidden: int  # d
    intermediate: int  # f
    layers: int  # L
    heads: int
    kv_heads: int
    vocab: int  # V
    tie_embeddings: bool = True

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def decoder_matmul_params(self) -> int:
        """N_dec: q, o (d x d_attn), k, v (d x d_kv), gate, up, down (d x f) in every layer."""
        d, d_attn, d_kv = self.hidden, self.heads * self.head_dim, self.kv_heads * self.head_dim
        return self.layers * (2 * d * d_attn + 2 * d * d_kv + 3 * d * self.intermediate)

    def parameters(self) -> int:
        """All parameters: embedding (and an untied head), decoder matmuls, RMSNorm weights."""
        embeddings = self.vocab * self.hidden * (1 if self.tie_embeddings else 2)
        return embeddings + self.decoder_matmul_params() + (2 * self.layers + 1) * self.hidden


def step_flops(arch: Arch, rows: int, width: int, head_positions: int) -> int:
    """Model FLOPs of one training step over `rows` x `width` positions (module docstring)."""
    d_attn = arch.heads * arch.head_dim
    positions = rows * width
    dense = 6 * arch.decoder_matmul_params() * positions
    head = 6 * arch.hidden * arch.vocab * head_positions
    attention = 6 * arch.layers * d_attn * rows * width * (width + 1)
    return dense + head + attention


def time_calls(fn, n: int, cuda: bool) -> tuple[list[float], object]:
    """Seconds of each of n calls (CUDA events around each, one synchronize at the end; on CPU
    perf_counter) and the last call's return value."""
    out = None
    if not cuda:
        times = []
        for _ in range(n):
            start = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - start)
        return times, out
    events = [
        (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
        for _ in range(n)
    ]
    for start, end in events:
        start.record()
        out = fn()
        end.record()
    torch.cuda.synchronize()
    return [start.elapsed_time(end) / 1e3 for start, end in events], out


def gemm_ceiling(n: int, device: torch.device, repeats: int = 20) -> dict:
    """The bf16 matrix-product rate: n x n x n on random normal inputs, median of `repeats`."""
    cuda = device.type == "cuda"
    a, b = (torch.randn(n, n, device=device, dtype=torch.bfloat16) for _ in range(2))
    time_calls(lambda: a @ b, 3, cuda)
    times, _ = time_calls(lambda: a @ b, repeats, cuda)
    median = statistics.median(times)
    return {"gemm_n": n, "dtype": "bfloat16", "tflops": 2 * n**3 / median / 1e12, "s_all": times}


def datasheet_tflops(device_name: str) -> tuple[str | None, float | None]:
    """(model, dense bf16 TFLOP/s) of the first DATASHEET_TFLOPS key in the name; (None, None)."""
    for key, tflops in DATASHEET_TFLOPS:
        if key.lower() in device_name.lower():
            return key, tflops
    return None, None
