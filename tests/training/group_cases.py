"""Shared material for the batching and log-prob tests: ragged tokenised groups and an oracle.

`ragged_groups` builds B prompts with up to k responses of real, varied lengths through the tiny
tokenizer and `training.chat.encode_pair`, with absent slots (one row entirely absent).
`per_sequence_logps` is the oracle: every (prompt + response) run alone through `model(...)`, no
padding, no mask, no position ids, log_softmax summed at the response tokens. It shares no code
with `training.batching` or `training.logprobs`.

`exact_float64` makes a float64 Llama float64 throughout. Hugging Face's Llama rounds to float32
in two places even when the model is float64: `LlamaRMSNorm` casts its input to float32, and
`eager_attention_forward` takes the softmax in float32. Values stay equal across layouts (the
same numbers are rounded the same way), but the backward rounds the *summed* upstream gradient
of a shared prompt position once, where the padded layout rounds each copy's gradient: the
parameter gradients of the two layouts then differ by ~3e-8 relative (float32 eps), which hides
real bugs of that size. The adapter computes both in the input's dtype and changes nothing else.
"""

from __future__ import annotations

import random
import types

import torch
from transformers.models.llama import modeling_llama

from training.chat import encode_pair
from training.tiny import builtin_corpus


def ragged_groups(tokenizer, b: int = 4, k: int = 4, seed: int = 0):
    """(prompt_ids B lists, response_ids B lists of k lists, mask (B, k) bool).

    Prompts of 1-3 sentences, responses of 1-4 (lengths ~10-70 tokens). Row 0 has slot 1
    absent, row 2 only its slot 0, the last row none at all (padding of the batch)."""
    rng = random.Random(seed)
    corpus = builtin_corpus(lines=200, seed=seed)
    mask = torch.ones(b, k, dtype=torch.bool)
    mask[0, 1] = False
    mask[2 % b, 1:] = False
    mask[b - 1] = False
    prompts, responses = [], []
    for _ in range(b):
        prompt = " ".join(rng.sample(corpus, rng.randint(1, 3)))
        group = []
        for _ in range(k):
            response = " ".join(rng.sample(corpus, rng.randint(1, 4)))
            prompt_ids, response_ids = encode_pair(tokenizer, prompt, response)
            group.append(response_ids)
        prompts.append(prompt_ids)
        responses.append(group)
    # Absent slots hold garbage (a different, long response) that must be ignored.
    for row, j in torch.nonzero(~mask).tolist():
        responses[row][j] = [5] * (3 + 7 * j)
    return prompts, responses, mask


def per_sequence_logps(model, prompt_ids, response_ids, mask, max_length=None, per_token=False):
    """(B, k) log-probs (float64): each real pair alone, no batching. With per_token, also a
    dict (b, j) -> (L,) per-token log-probs."""
    b, k = mask.shape
    out = torch.zeros(b, k, dtype=torch.float64)
    tokens = {}
    rows = []
    for i in range(b):
        row = []
        for j in range(k):
            if not mask[i, j]:
                row.append(torch.zeros((), dtype=torch.float64))
                continue
            prompt = list(prompt_ids[i])
            response = list(response_ids[i][j])
            if max_length is not None:
                response = response[: max_length - len(prompt)]
            ids = torch.tensor([prompt + response])
            logp = model(input_ids=ids).logits[0].double().log_softmax(-1)  # (L, V)
            per = torch.stack([logp[t - 1, ids[0, t]] for t in range(len(prompt), ids.shape[1])])
            tokens[i, j] = per
            row.append(per.sum())
        rows.append(torch.stack(row))
    out = torch.stack(rows)
    return (out, tokens) if per_token else out


def per_sequence_hidden_mean(model, prompt_ids, response_ids, mask):
    """(B, k, H) mean final hidden state over each response's tokens, each pair alone."""
    b, k = mask.shape
    out = torch.zeros(b, k, model.config.hidden_size, dtype=torch.float64)
    for i in range(b):
        for j in range(k):
            if mask[i, j]:
                ids = torch.tensor([list(prompt_ids[i]) + list(response_ids[i][j])])
                hidden = model.model(input_ids=ids).last_hidden_state[0].double()  # (L, H)
                out[i, j] = hidden[len(prompt_ids[i]) :].mean(0)
    return out


def grads(model, value, retain_graph=False) -> torch.Tensor:
    """All parameter gradients of a scalar, flattened into one vector (zeros where unused)."""
    params = [p for p in model.parameters() if p.requires_grad]
    got = torch.autograd.grad(value, params, allow_unused=True, retain_graph=retain_graph)
    return torch.cat(
        [
            (g if g is not None else torch.zeros_like(p)).flatten()
            for g, p in zip(got, params, strict=True)
        ]
    )


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b| (0 when both are 0)."""
    scale = b.abs().max().item()
    diff = (a - b).abs().max().item()
    return diff / scale if scale else diff


def _rms_norm_in_input_dtype(self, hidden):
    """`LlamaRMSNorm.forward` without the cast to float32 (computed in float32 or wider)."""
    dtype = torch.promote_types(hidden.dtype, torch.float32)
    h = hidden.to(dtype)
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)
    return self.weight * h.to(hidden.dtype)


def _eager_attention_in_input_dtype(
    module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs
):
    """`modeling_llama.eager_attention_forward` with the softmax in the query's dtype (or wider)
    instead of float32; line for line the same otherwise (the mask is added to the scores)."""
    key_states = modeling_llama.repeat_kv(key, module.num_key_value_groups)
    value_states = modeling_llama.repeat_kv(value, module.num_key_value_groups)
    attn_weights = torch.matmul(query, key_states.transpose(2, 3)) * scaling
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    dtype = torch.promote_types(query.dtype, torch.float32)
    attn_weights = torch.nn.functional.softmax(attn_weights, dim=-1, dtype=dtype).to(query.dtype)
    attn_weights = torch.nn.functional.dropout(attn_weights, p=dropout, training=module.training)
    attn_output = torch.matmul(attn_weights, value_states).transpose(1, 2).contiguous()
    return attn_output, attn_weights


def exact_float64(model, monkeypatch):
    """The model in float64 with no float32 rounding inside (module docstring). The eager patch
    is module-global, undone by `monkeypatch`."""
    model = model.double()
    for module in model.modules():
        if isinstance(module, modeling_llama.LlamaRMSNorm):
            module.forward = types.MethodType(_rms_norm_in_input_dtype, module)
    monkeypatch.setattr(modeling_llama, "eager_attention_forward", _eager_attention_in_input_dtype)
    return model
