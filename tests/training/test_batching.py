"""The two batch layouts: what each response token sees, where it sits, and what is counted.

No model runs here. The central check (`test_each_token_sees_exactly_its_own_sequence`) reads,
for every response token, the keys its attention mask allows and their position ids, and asserts
they are exactly `prompt + response[:i + 1]` at positions 0..P+i, the sequence the token would
see if run alone. The rest are hand-counted examples and error messages.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from group_cases import ragged_groups
from hypothesis import given, settings
from hypothesis import strategies as st

from training.batching import (
    PADDED,
    PREFIX_SHARED,
    additive_mask,
    pack_padded,
    pack_prefix_shared,
)

PACKERS = {PADDED: pack_padded, PREFIX_SHARED: pack_prefix_shared}
PAD = 0


def allowed_keys(batch) -> torch.Tensor:
    """(R, T, T) bool: query t may attend key u (either layout, as the model reads the mask)."""
    if batch.layout == PADDED:
        t = batch.input_ids.shape[1]
        causal = torch.ones(t, t, dtype=torch.bool).tril()
        return causal[None] & batch.attention_mask.bool()[:, None, :]
    return batch.attention_mask[:, 0] == 0


def seen_by_each_token(batch):
    """For each response token n: (input ids, position ids) of the keys it attends, in order."""
    t = batch.input_ids.shape[1]
    allowed = allowed_keys(batch)
    out = []
    for n in range(batch.target.numel()):
        row, col = divmod(int(batch.position[n]), t)
        keys = torch.nonzero(allowed[row, col]).flatten()
        out.append((batch.input_ids[row, keys].tolist(), batch.position_ids[row, keys].tolist()))
    return out


def expected_views(prompts, responses, mask, max_length=None):
    """What each response token sees when its pair is run alone: (ids, positions) lists."""
    out = []
    for b, j in torch.nonzero(mask).tolist():
        response = list(responses[b][j])
        if max_length is not None:
            response = response[: max_length - len(prompts[b])]
        whole = list(prompts[b]) + response
        for i in range(len(response)):
            upto = len(prompts[b]) + i + 1
            out.append((whole[:upto], list(range(upto))))
    return out


@st.composite
def groups(draw):
    """Ragged groups of random token ids: B in 1..4, k in 1..4, lengths 1..9, random mask."""
    b = draw(st.integers(1, 4))
    k = draw(st.integers(1, 4))
    ids = st.lists(st.integers(1, 50), min_size=1, max_size=9)
    prompts = [draw(ids) for _ in range(b)]
    responses = [[draw(ids) for _ in range(k)] for _ in range(b)]
    mask = torch.tensor(
        draw(st.lists(st.lists(st.booleans(), min_size=k, max_size=k), min_size=b, max_size=b))
    )
    max_length = draw(st.one_of(st.none(), st.integers(10, 14)))
    return prompts, responses, mask, max_length


@settings(max_examples=40, deadline=None, derandomize=True)
@given(groups(), st.sampled_from(sorted(PACKERS)))
def test_each_token_sees_exactly_its_own_sequence(case, layout):
    """Every response token attends to its prompt and its own response's earlier tokens, at
    positions 0..P+i, and to nothing else (another response, padding); its target is its own
    token and its predicting position is the one just before it in that view. Guards: a
    position id off by one, a mask letting responses see each other, a gather at the wrong shift."""
    prompts, responses, mask, max_length = case
    batch = PACKERS[layout](prompts, responses, mask, pad_id=PAD, max_length=max_length)
    views = expected_views(prompts, responses, mask, max_length)
    assert seen_by_each_token(batch) == views
    ids, pos = batch.input_ids.flatten(), batch.position_ids.flatten()
    assert batch.target.tolist() == [v[0][-1] for v in views]
    assert torch.equal(ids[batch.position], batch.target)
    assert pos[batch.source].tolist() == [v[1][-1] - 1 for v in views]
    # the predicting position sees the same sequence minus the token itself
    t = batch.input_ids.shape[1]
    allowed = allowed_keys(batch)
    for n, (view_ids, _) in enumerate(views):
        row, col = divmod(int(batch.source[n]), t)
        keys = torch.nonzero(allowed[row, col]).flatten()
        assert batch.input_ids[row, keys].tolist() == view_ids[:-1]


@settings(max_examples=40, deadline=None, derandomize=True)
@given(groups(), st.sampled_from(sorted(PACKERS)))
def test_counts_and_slots(case, layout):
    """lengths, slots, truncation and token counts agree with a direct count."""
    prompts, responses, mask, max_length = case
    batch = PACKERS[layout](prompts, responses, mask, pad_id=PAD, max_length=max_length)
    b, k = mask.shape
    kept = torch.zeros(b, k, dtype=torch.long)
    dropped = 0
    for i, j in torch.nonzero(mask).tolist():
        room = len(responses[i][j]) if max_length is None else max_length - len(prompts[i])
        kept[i, j] = min(room, len(responses[i][j]))
        dropped += len(responses[i][j]) - int(kept[i, j])
    assert torch.equal(batch.lengths, kept)
    assert torch.equal(torch.bincount(batch.slot, minlength=b * k).view(b, k), kept)
    assert batch.n_dropped_tokens == dropped
    assert batch.n_truncated == int(
        (mask & (kept < torch.tensor([[len(r) for r in g] for g in responses]))).sum()
    )
    pair_tokens = sum(len(prompts[i]) + int(kept[i, j]) for i, j in torch.nonzero(mask).tolist())
    assert batch.n_pair_tokens == pair_tokens
    with_responses = [i for i in range(b) if mask[i].any()]
    if layout == PADDED:
        assert batch.n_tokens == pair_tokens
        assert batch.input_ids.shape[0] == int(mask.sum())
    else:
        shared = sum(len(prompts[i]) for i in with_responses) + int(kept.sum())
        assert batch.n_tokens == shared
        assert batch.input_ids.shape[0] == len(with_responses)
    assert batch.n_slots == batch.input_ids.numel() >= batch.n_tokens
    assert int((batch.input_ids != PAD).sum()) == batch.n_tokens  # ids are 1..50, PAD is 0


def test_hand_counted_example():
    """B=2, k=3. Prompt 0 (3 tokens) with responses of 4 and 2 tokens and slot 1 absent; prompt 1
    (2 tokens) with one response of 6 tokens. max_length 6: response (0, 0) keeps 3 (drops 1),
    (1, 0) keeps 4 (drops 2)."""
    prompts = [[1, 2, 3], [4, 5]]
    responses = [[[10, 11, 12, 13], [99], [20, 21]], [[30, 31, 32, 33, 34, 35]]]
    mask = torch.tensor([[True, False, True], [True, False, False]])
    padded = pack_padded(prompts, responses, mask, pad_id=PAD, max_length=6)
    assert padded.input_ids.tolist() == [
        [1, 2, 3, 10, 11, 12],
        [1, 2, 3, 20, 21, 0],
        [4, 5, 30, 31, 32, 33],
    ]
    assert padded.lengths.tolist() == [[3, 0, 2], [4, 0, 0]]
    assert (padded.n_truncated, padded.n_dropped_tokens) == (2, 3)
    assert padded.truncated.tolist() == [[True, False, False], [True, False, False]]
    assert (padded.n_tokens, padded.n_slots, padded.n_pair_tokens) == (17, 18, 17)
    assert padded.source.tolist() == [2, 3, 4, 8, 9, 13, 14, 15, 16]
    assert padded.slot.tolist() == [0, 0, 0, 2, 2, 3, 3, 3, 3]

    shared = pack_prefix_shared(prompts, responses, mask, pad_id=PAD, max_length=6)
    assert shared.input_ids.tolist() == [
        [1, 2, 3, 10, 11, 12, 20, 21],
        [4, 5, 30, 31, 32, 33, 0, 0],
    ]
    assert shared.position_ids.tolist() == [[0, 1, 2, 3, 4, 5, 3, 4], [0, 1, 2, 3, 4, 5, 0, 0]]
    # response 2 of prompt 0 is predicted first from the prompt's last token (position 2)
    assert shared.source.tolist() == [2, 3, 4, 2, 6, 9, 10, 11, 12]
    assert shared.target.tolist() == padded.target.tolist()
    assert (shared.n_tokens, shared.n_slots, shared.n_pair_tokens) == (14, 16, 17)
    allowed = shared.attention_mask[0, 0] == 0
    assert allowed[6].tolist() == [True, True, True, False, False, False, True, False]
    assert allowed[7].tolist() == [True, True, True, False, False, False, True, True]
    # padding attends only to itself (a fully masked row would give NaN)
    assert (shared.attention_mask[1, 0] == 0)[6].tolist() == [False] * 6 + [True, False]


@pytest.mark.parametrize("layout", sorted(PACKERS))
def test_errors_name_the_culprit(layout):
    pack = PACKERS[layout]
    prompts, responses = [[1, 2], [1, 2, 3, 4, 5]], [[[7]], [[8]]]
    with pytest.raises(ValueError, match="prompt 1 has 5 tokens; max_length=5"):
        pack(prompts, responses, pad_id=PAD, max_length=5)
    with pytest.raises(ValueError, match="prompt 0 is empty"):
        pack([[], [1]], responses, pad_id=PAD)
    with pytest.raises(
        ValueError, match=r"response \(1, 0\) is marked real but is missing or empty"
    ):
        pack(prompts, [[[7]], [[]]], pad_id=PAD)
    with pytest.raises(ValueError, match="2 prompts but 1 response groups"):
        pack(prompts, [[[7]]], pad_id=PAD)
    with pytest.raises(ValueError, match=r"\(B, k\) bool"):
        pack(prompts, responses, torch.ones(2, 1), pad_id=PAD)
    # a prompt with no real response is padding of the batch: not laid out, not checked
    absent = torch.tensor([[True], [False]])
    assert pack([[1], []], responses, absent, pad_id=PAD, max_length=2).lengths.tolist() == [
        [1],
        [0],
    ]


def test_a_batch_with_no_real_response_is_empty_not_an_error():
    for pack in PACKERS.values():
        batch = pack([[1, 2]], [[[3], [4]]], torch.zeros(1, 2, dtype=torch.bool), pad_id=PAD)
        assert batch.input_ids.shape[0] == 0 and batch.target.numel() == 0
        assert batch.lengths.tolist() == [[0, 0]]


def test_to_re_expresses_the_additive_mask_in_the_model_dtype(tiny_tokenizer):
    prompts, responses, mask = ragged_groups(tiny_tokenizer, b=3, k=2)
    shared = pack_prefix_shared(prompts, responses, mask, pad_id=PAD)
    assert shared.attention_mask.dtype == torch.float32
    half = shared.to("cpu", torch.bfloat16)
    assert half.attention_mask.dtype == torch.bfloat16
    assert torch.equal(half.attention_mask == 0, shared.attention_mask == 0)
    assert half.attention_mask.min() == torch.finfo(torch.bfloat16).min
    bool_mask = shared.attention_mask == 0
    again = replace(shared, attention_mask=bool_mask).to(None, torch.float64)
    assert torch.equal(again.attention_mask, additive_mask(bool_mask, torch.float64))
    assert shared.to("cpu", torch.float32).attention_mask is shared.attention_mask
