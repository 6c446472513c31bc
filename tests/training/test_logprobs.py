"""Sequence log-probs: chunked == full logits == each sequence alone, in both layouts.

Everything runs on the tiny Llama in float64, on ragged groups tokenised by `encode_pair`, so the
tolerances are those of float64 rounding (1e-10 relative), not of float32. The oracle
(`group_cases.per_sequence_logps`) runs every pair alone through `model(...)` and shares no
batching or gathering code with the package.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from group_cases import (
    exact_float64,
    grads,
    per_sequence_hidden_mean,
    per_sequence_logps,
    ragged_groups,
    rel_err,
)

from training.batching import pack_padded, pack_prefix_shared
from training.logprobs import (
    naive_sequence_logps,
    response_hidden_mean,
    sequence_logps,
    verify_head,
)
from training.models import load_model

TIGHT = 1e-10
ATTENTION = ("sdpa", "eager")


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny tensors: a second thread only adds contention on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def models(tiny_spec):
    """attn_implementation -> the tiny model in float64 throughout (`exact_float64`)."""
    with pytest.MonkeyPatch.context() as mp:
        yield {
            impl: exact_float64(load_model(replace(tiny_spec, attn_implementation=impl)), mp)
            for impl in ATTENTION
        }


@pytest.fixture(scope="module")
def groups(tiny_tokenizer):
    return ragged_groups(tiny_tokenizer)


def pack(layout, groups, tokenizer, **kwargs):
    prompts, responses, mask = groups
    if layout == "prefix_shared":
        kwargs.setdefault("dtype", torch.float64)
        return pack_prefix_shared(prompts, responses, mask, pad_id=tokenizer.pad_token_id, **kwargs)
    return pack_padded(prompts, responses, mask, pad_id=tokenizer.pad_token_id, **kwargs)


def weights(mask):
    """Distinct fixed weights per slot, so a gradient sent to the wrong slot shows."""
    gen = torch.Generator().manual_seed(1)
    return torch.rand(mask.shape, generator=gen, dtype=torch.float64) + 0.5


@pytest.fixture(scope="module")
def oracle(models, groups):
    """attn -> (logps (B, k), flattened parameter gradients of sum(w * logps))."""
    out = {}
    for impl, model in models.items():
        logps = per_sequence_logps(model, *groups)
        out[impl] = (logps.detach(), grads(model, (weights(groups[2]) * logps).sum()))
    return out


@pytest.mark.parametrize("chunk_size", [1, 3, 64, 10_000])
def test_chunked_equals_naive_full_logits(models, groups, tiny_tokenizer, chunk_size):
    """Values and parameter gradients of the chunked, checkpointed path equal the plain
    full-logits computation, for chunks of 1 row, uneven chunks and one chunk (> N rows)."""
    model = models["sdpa"]
    batch = pack("padded", groups, tiny_tokenizer)
    w = weights(groups[2])
    naive, naive_len = naive_sequence_logps(model, batch)
    chunked, lengths = sequence_logps(model, batch, chunk_size=chunk_size)
    assert torch.equal(lengths, naive_len)
    assert rel_err(chunked, naive) < TIGHT
    assert rel_err(grads(model, (w * chunked).sum()), grads(model, (w * naive).sum())) < TIGHT


@pytest.mark.parametrize("attn", ATTENTION)
@pytest.mark.parametrize("layout", ["padded", "prefix_shared"])
def test_layouts_equal_each_sequence_alone(models, groups, oracle, tiny_tokenizer, attn, layout):
    """Both layouts, both attention kernels: log-probs and gradients equal the oracle that runs
    each (prompt + response) alone with no padding at all; lengths are the response lengths."""
    model = models[attn]
    _, responses, mask = groups
    batch = pack(layout, groups, tiny_tokenizer)
    logps, lengths = sequence_logps(model, batch, chunk_size=16)
    expected, expected_grad = oracle[attn]
    assert rel_err(logps, expected) < TIGHT
    assert rel_err(grads(model, (weights(mask) * logps).sum()), expected_grad) < TIGHT
    for b, j in torch.nonzero(mask).tolist():
        assert lengths[b, j] == len(responses[b][j])


@pytest.mark.parametrize("attn", ATTENTION)
def test_prefix_shared_equals_padded(models, groups, tiny_tokenizer, attn):
    """Prefix sharing is a layout, not an approximation: same log-probs, same gradients."""
    model = models[attn]
    w = weights(groups[2])
    padded, _ = sequence_logps(model, pack("padded", groups, tiny_tokenizer))
    shared, _ = sequence_logps(model, pack("prefix_shared", groups, tiny_tokenizer))
    assert rel_err(shared, padded) < TIGHT
    assert rel_err(grads(model, (w * shared).sum()), grads(model, (w * padded).sum())) < TIGHT


@pytest.mark.parametrize("layout", ["padded", "prefix_shared"])
def test_absent_slots_are_zero_and_send_no_gradient(models, groups, tiny_tokenizer, layout):
    model = models["sdpa"]
    mask = groups[2]
    logps, lengths = sequence_logps(model, pack(layout, groups, tiny_tokenizer), chunk_size=7)
    assert not logps[~mask].any() and not lengths[~mask].any()
    assert (logps[mask] < 0).all() and (lengths[mask] > 0).all()
    assert not grads(model, (weights(mask) * logps)[~mask].sum()).any()


@pytest.mark.parametrize("layout", ["padded", "prefix_shared"])
def test_truncation_keeps_the_prefix_log_probs(models, groups, tiny_tokenizer, layout):
    """Cut responses are counted, and what is kept scores exactly as the untruncated response's
    first tokens (a causal model: later tokens cannot change earlier ones)."""
    model = models["sdpa"]
    prompts, responses, mask = groups
    max_length = max(len(p) for p in prompts) + 12
    batch = pack(layout, groups, tiny_tokenizer, max_length=max_length)
    logps, lengths = sequence_logps(model, batch)
    _, per_token = per_sequence_logps(model, *groups, per_token=True)
    n_cut, dropped = 0, 0
    for b, j in torch.nonzero(mask).tolist():
        room = max_length - len(prompts[b])
        kept = min(room, len(responses[b][j]))
        n_cut += kept < len(responses[b][j])
        dropped += len(responses[b][j]) - kept
        assert lengths[b, j] == kept
        assert rel_err(logps[b, j], per_token[b, j][:kept].sum()) < TIGHT
    assert n_cut > 0 and batch.n_truncated == n_cut and batch.n_dropped_tokens == dropped
    assert batch.truncated.sum() == n_cut


def test_prompt_longer_than_max_length_names_the_prompt(groups, tiny_tokenizer):
    prompts = groups[0]
    too_short = len(prompts[1])
    for layout in ("padded", "prefix_shared"):
        with pytest.raises(ValueError, match="prompt 1 has"):
            pack(layout, groups, tiny_tokenizer, max_length=too_short)


@pytest.mark.parametrize("layout", ["padded", "prefix_shared"])
def test_response_hidden_mean_equals_each_sequence_alone(models, groups, tiny_tokenizer, layout):
    model = models["sdpa"]
    with torch.no_grad():
        got = response_hidden_mean(model, pack(layout, groups, tiny_tokenizer))
        expected = per_sequence_hidden_mean(model, *groups)
    assert got.shape == (*groups[2].shape, model.config.hidden_size)
    assert rel_err(got, expected) < TIGHT
    assert not got[~groups[2]].any()


def test_bfloat16_model_gets_float32_log_probs(tiny_spec, groups, tiny_tokenizer):
    """A bf16 model's logits are upcast before the log-softmax: the chunked result is float32
    and equals the full-logits float32 computation (the same bf16 logits) to float32 rounding;
    a log-softmax taken in bf16 would be off by ~1e-2 per token."""
    model = load_model(replace(tiny_spec, dtype="bfloat16"))
    batch = pack("prefix_shared", groups, tiny_tokenizer, dtype=torch.float32)  # `to` converts
    with torch.no_grad():
        chunked, _ = sequence_logps(model, batch, chunk_size=5)
        naive, _ = naive_sequence_logps(model, batch)
    assert chunked.dtype == naive.dtype == torch.float32
    assert rel_err(chunked, naive) < 1e-5


class _Rows:
    """Forward hook on the output head: the largest number of rows it was ever applied to."""

    def __init__(self):
        self.largest, self.calls = 0, 0

    def __call__(self, _module, _args, out):
        self.largest = max(self.largest, out.shape[:-1].numel())
        self.calls += 1


def test_chunked_path_never_holds_full_logits(models, groups, tiny_tokenizer):
    """The head only ever sees chunk_size rows, in the forward and in the backward (where the
    checkpoint recomputes each chunk); nothing vocabulary-wide is saved for the backward beyond
    one chunk. Computing `model(...).logits`, or chunking without the checkpoint, fails here."""
    model = models["sdpa"]
    vocab = model.config.vocab_size
    batch = pack("padded", groups, tiny_tokenizer)
    chunk = 8
    n_tokens = batch.target.numel()
    assert n_tokens > 4 * chunk and batch.n_slots > n_tokens
    rows = _Rows()
    saved_vocab_wide = []

    def pack_hook(t):
        if t.dim() >= 1 and t.shape[-1] == vocab:
            saved_vocab_wide.append(t.numel())
        return t

    verify_head(model)  # its probe runs model(...) once; not what is measured here
    handle = model.get_output_embeddings().register_forward_hook(rows)
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack_hook, lambda t: t):
            logps, _ = sequence_logps(model, batch, chunk_size=chunk)
        forward_calls = rows.calls
        logps.sum().backward()
    finally:
        handle.remove()
        model.zero_grad(set_to_none=True)
    assert rows.largest <= chunk
    assert forward_calls == -(-n_tokens // chunk)
    assert rows.calls == 2 * forward_calls  # each chunk recomputed once in the backward
    assert sum(saved_vocab_wide) <= chunk * vocab


def test_naive_path_is_caught_by_the_same_probes(models, groups, tiny_tokenizer):
    """The probe of the test above does see full logits when they are computed."""
    model = models["sdpa"]
    batch = pack("padded", groups, tiny_tokenizer)
    rows = _Rows()
    handle = model.get_output_embeddings().register_forward_hook(rows)
    try:
        naive_sequence_logps(model, batch)
    finally:
        handle.remove()
    assert rows.largest == batch.n_slots


def test_unsupported_output_head_is_a_clear_error(tiny_spec):
    """A model that changes its logits after the head in a way `head_logits` does not know."""
    model = load_model(tiny_spec)
    plain = model.forward

    def scaled(*args, **kwargs):
        out = plain(*args, **kwargs)
        out.logits = out.logits * 3.0
        return out

    model.forward = scaled
    with pytest.raises(ValueError, match="LlamaForCausalLM: the output head"):
        verify_head(model)


HEADS = {
    # model_type: config overrides; each changes the logits after the head, or the positions
    "gemma2": {"final_logit_softcapping": 3.0},  # cap * tanh(logits / cap); eager only
    "cohere": {"logit_scale": 0.25},  # logits * scale
    "granite": {"logits_scaling": 4.0},  # logits / scaling
    "gpt2": {"n_embd": 32, "n_layer": 1, "n_head": 4},  # learned absolute positions
}


@pytest.mark.parametrize("model_type", sorted(HEADS))
def test_other_architectures_and_logit_transforms(model_type):
    """Random tiny models of other families (float64, eval): chunked == full logits, and
    prefix-shared == padded, through `get_decoder()` and the config's logit transform."""
    from transformers import AutoConfig, AutoModelForCausalLM

    shape = {
        "vocab_size": 96,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 8,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": 0,
    }
    if model_type == "gpt2":
        shape = {"vocab_size": 96, "bos_token_id": 1, "eos_token_id": 2}
    config = AutoConfig.for_model(model_type, **shape, **HEADS[model_type])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(config, attn_implementation="eager")
    model = model.double().eval()
    prompts = [[1, 5, 6], [1, 7]]
    responses = [[[8, 9, 10, 2], [11, 2]], [[12, 13, 14, 15, 2]]]
    padded = pack_padded(prompts, responses, pad_id=0)
    shared = pack_prefix_shared(prompts, responses, pad_id=0, dtype=torch.float64)
    naive, _ = naive_sequence_logps(model, padded)
    chunked, _ = sequence_logps(model, padded, chunk_size=2)
    assert rel_err(chunked, naive) < TIGHT
    assert rel_err(sequence_logps(model, shared, chunk_size=3)[0], naive) < TIGHT
    # Their norms round to float32 inside a float64 model (see group_cases.exact_float64), so
    # the gradients agree to float32 rounding only.
    assert rel_err(grads(model, chunked.sum()), grads(model, naive.sum())) < 1e-6
