"""Sequence log-probs of responses without materialising the full logits.

    log pi(y | x) = sum over response tokens y_t of log softmax(W h_{t-1})[y_t]

`sequence_logps` runs the decoder of any `AutoModelForCausalLM` once over a `training.batching`
batch (padded or prefix-shared), gathers the final hidden states only at the N positions that
predict a response token, and computes the output head, log-softmax (in float32, or float64 for
a float64 model) and gather in chunks of `chunk_size` rows. Each chunk runs under non-reentrant
`torch.utils.checkpoint`, so neither the forward nor the backward holds more than one chunk's
(chunk_size, V) logits: memory for the head is O(chunk_size * V), not O(R * T * V).

The head is `model.get_output_embeddings()` followed by the model's logit transform, read from
its config: `logit_scale` (Cohere: logits * scale), `logits_scaling` (Granite: logits / s) and
`final_logit_softcapping` (Gemma 2/3: cap * tanh(logits / cap)). Because a model may do
something else between its decoder and its logits, every model is checked once, the first time
it is used (`verify_head`): a short probe through `model(...)` must give the logits our head gives
on the decoder's own output; otherwise a ValueError says the head is unsupported.

`naive_sequence_logps` (full logits; tests and benchmarks only) and `response_hidden_mean` (mean
final hidden state over each response's tokens, to embed responses with the policy) share the
decoder call.
"""

from __future__ import annotations

import weakref

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from training.batching import Batch

# Rows per chunk. A chunk holds a few (chunk_size, V) float32 buffers at once (logits,
# log-probs, in the backward their gradients): 512 x 152k vocabulary x 4 B = 311 MB each.
DEFAULT_CHUNK_SIZE = 512
_VERIFIED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> True
PROBE_TOKENS = 8


def compute_dtype(model) -> torch.dtype:
    """float64 for a float64 model, float32 otherwise (bf16/fp16 logits are upcast)."""
    return torch.promote_types(model.dtype, torch.float32)


def decoder_hidden(model, batch: Batch) -> Tensor:
    """Final (normed) hidden states of the decoder, (R, T, H), for a batch on the model's device."""
    out = model.get_decoder()(**batch.model_inputs(), use_cache=False)
    return out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]


def head_logits(model, hidden: Tensor) -> Tensor:
    """(n, H) hidden states -> (n, V) logits in the compute dtype, as `model(...)` makes them."""
    cfg = model.config
    logits = model.get_output_embeddings()(hidden).to(compute_dtype(model))  # (n, V)
    scale = getattr(model, "logit_scale", None)
    scale = getattr(cfg, "logit_scale", None) if scale is None else scale
    if scale is not None:
        logits = logits * scale
    if getattr(cfg, "logits_scaling", None):
        logits = logits / cfg.logits_scaling
    cap = getattr(cfg, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


def _token_logps(model, hidden: Tensor, target: Tensor) -> Tensor:
    """(n, H), (n,) -> (n,) log softmax(head(hidden))[target], one chunk."""
    logp = head_logits(model, hidden).log_softmax(-1)  # (n, V); fused, unlike logsumexp on CPU
    return logp.gather(-1, target[:, None]).squeeze(-1)  # (n,)


def verify_head(model, atol: float | None = None) -> None:
    """Check once per model that `head_logits(decoder output)` equals `model(...).logits` on a
    short probe; raises ValueError naming the model class when it does not."""
    if _VERIFIED.get(model):
        return
    device = model.get_output_embeddings().weight.device
    probe = torch.arange(1, PROBE_TOKENS + 1, device=device)[None] % model.config.vocab_size
    seen = []
    hook = model.get_decoder().register_forward_hook(
        lambda _m, _a, out: seen.append(
            out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
        )
    )
    try:
        with torch.no_grad():
            theirs = model(input_ids=probe, use_cache=False).logits
            ours = head_logits(model, seen[-1]) if seen else None
    finally:
        hook.remove()
    if ours is None or ours.shape != theirs.shape:
        raise ValueError(
            f"logprobs: {type(model).__name__}: the decoder (get_decoder()) did not produce the "
            "hidden states its output head reads; unsupported model"
        )
    theirs = theirs.to(ours.dtype)
    if atol is None:
        atol = {torch.float64: 1e-9, torch.float32: 1e-4}.get(model.dtype, 5e-2)
    err = (ours - theirs).abs().max().item()
    if err > atol * (1.0 + theirs.abs().max().item()):
        raise ValueError(
            f"logprobs: {type(model).__name__}: the output head gives logits {err:.3g} away from "
            "model(...).logits; its logit transform (scaling, softcapping, ...) is not supported "
            "by training.logprobs.head_logits"
        )
    _VERIFIED[model] = True


def _per_slot(batch: Batch, values: Tensor) -> Tensor:
    """(N, ...) per-token values -> (B, k, ...) sums per slot (0 on absent slots)."""
    b, k = batch.shape
    out = values.new_zeros((b * k, *values.shape[1:]))
    return out.index_add(0, batch.slot, values).view(b, k, *values.shape[1:])


def sequence_logps(
    model, batch: Batch, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> tuple[Tensor, Tensor]:
    """(logps (B, k), lengths (B, k)) of every response slot; absent slots give 0 and 0.

    logps is in the compute dtype (float32, float64 for a float64 model) and carries the
    gradient; no more than `chunk_size` rows of logits exist at any time."""
    if chunk_size < 1:
        raise ValueError(f"logprobs: chunk_size must be >= 1, got {chunk_size}")
    verify_head(model)
    device = model.get_output_embeddings().weight.device
    batch = batch.to(device, model.dtype)
    if batch.target.numel() == 0:
        return torch.zeros(batch.shape, dtype=compute_dtype(model), device=device), batch.lengths
    hidden = decoder_hidden(model, batch)  # (R, T, H)
    picked = hidden.flatten(0, 1)[batch.source]  # (N, H)
    parts = []
    for start in range(0, picked.shape[0], chunk_size):
        h, t = picked[start : start + chunk_size], batch.target[start : start + chunk_size]
        if torch.is_grad_enabled():
            # The head draws no random numbers: no RNG state to save and restore per chunk.
            parts.append(
                checkpoint(_token_logps, model, h, t, use_reentrant=False, preserve_rng_state=False)
            )
        else:
            parts.append(_token_logps(model, h, t))
    return _per_slot(batch, torch.cat(parts)), batch.lengths


def naive_sequence_logps(model, batch: Batch) -> tuple[Tensor, Tensor]:
    """The same through `model(...).logits`: full (R, T, V) logits. Tests and benchmarks only."""
    device = model.get_output_embeddings().weight.device
    batch = batch.to(device, model.dtype)
    logits = model(**batch.model_inputs(), use_cache=False).logits  # (R, T, V)
    logp = logits.to(compute_dtype(model)).log_softmax(-1).flatten(0, 1)  # (R * T, V)
    return _per_slot(batch, logp[batch.source, batch.target]), batch.lengths


def response_hidden_mean(model, batch: Batch) -> Tensor:
    """(B, k, H) mean final hidden state over each response's own tokens (0 on absent slots),
    in the compute dtype. Wrap in torch.no_grad() to embed without a graph."""
    device = model.get_output_embeddings().weight.device
    batch = batch.to(device, model.dtype)
    hidden = decoder_hidden(model, batch)  # (R, T, H)
    tokens = hidden.flatten(0, 1)[batch.position].to(compute_dtype(model))  # (N, H)
    sums = _per_slot(batch, tokens)  # (B, k, H)
    return sums / batch.lengths.clamp(min=1)[..., None].to(sums.dtype)
