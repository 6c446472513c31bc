"""The edges of the input contract (`training/losses/inputs.py`): padding rows with an index
positive, dtypes and shapes that are refused with one ValueError, and edge inputs that work."""

import math

import pytest
import torch
from loss_cases import CASE_IDS, CASES, Batch

from training.losses import get_loss


def padded_batch() -> Batch:
    """Three rows of k = 3: row 0 full, row 1 batch padding (mask all False), row 2 with slot 2
    padded; the positive is slot 0 (row 0) and slot 1 (row 2)."""
    policy = torch.tensor([[-5.0, -7.0, -9.0], [0.0, 0.0, 0.0], [-6.0, -4.0, 0.0]])
    ref = torch.tensor([[-6.0, -6.5, -8.0], [0.0, 0.0, 0.0], [-5.0, -5.0, 0.0]])
    lengths = torch.tensor([[5, 7, 4], [1, 1, 1], [6, 3, 1]])
    rewards = torch.tensor([[0.9, 0.2, 0.1], [0.0, 0.0, 0.0], [0.3, 0.7, 0.0]])
    mask = torch.tensor([[True, True, True], [False, False, False], [True, True, False]])
    positive = torch.tensor([[True, False, False], [False, False, False], [False, True, False]])
    return Batch(policy.double(), ref.double(), lengths, rewards.double(), mask, positive)


# -- padding rows with an index positive ----------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("pad_index", [0, -1, 7])
def test_padding_row_accepts_any_index_positive(case, pad_index):
    """Property: on a padding row (mask all False) the index positive is ignored, whatever its
    value: the loss equals the bool-mask positive's, is 0 on that row, and the row gets zero
    gradient. Guards against the index range check running before the row is known to be empty
    (which refused batches padded with a -1 or 0 index)."""
    b = padded_batch()
    policy = b.policy.clone().requires_grad_()
    index = torch.tensor([0, pad_index, 1])
    loss = case(b, policy=policy, positive=index)[0]
    loss.sum().backward()
    torch.testing.assert_close(loss, case(b)[0], rtol=0, atol=0)
    assert loss[1] == 0 and (policy.grad[1] == 0).all()


@pytest.mark.parametrize(("index", "row", "value"), [([3, 0, 1], 0, 3), ([0, -1, -1], 2, -1)])
def test_out_of_range_index_on_a_valid_row_names_the_row(index, row, value):
    """Property: an index outside [0, k) on a row with valid responses still raises a ValueError
    naming the row and the index, even next to a padding row whose index is ignored. Guards
    against the padding exemption swallowing real errors."""
    b = padded_batch()
    with pytest.raises(ValueError, match=rf"dpo: positive: row {row}: index {value} is outside"):
        get_loss("dpo")(*b.with_(positive=torch.tensor(index)).args())


# -- malformed inputs: one ValueError naming the loss, the field (and the row) ---------------
B = padded_batch()
MALFORMED = [
    # (id, loss, changes, message)
    ("policy-int", "dpo", {"policy": B.policy.long()}, "policy_logps must be a floating-point"),
    ("policy-bool", "dpo", {"policy": B.policy < -5}, "policy_logps must be a floating-point"),
    ("policy-1d", "dpo", {"policy": B.policy[0]}, r"policy_logps must have shape \(B, k\)"),
    (
        "k-1",
        "dpo",
        {"policy": B.policy[:, :1]},
        r"policy_logps must have shape \(B, k\) with k >= 2",
    ),
    ("mask-int", "dpo", {"mask": B.mask.long()}, "mask must be a bool tensor, got torch.int64"),
    ("mask-shape", "dpo", {"mask": B.mask[:, :2]}, r"mask has shape \(3, 2\)"),
    (
        "positive-uint8-mask",
        "dpo",
        {"positive": B.positive.to(torch.uint8)},
        r"positive: a mask of shape \(3, 3\) must be bool, got torch.uint8",
    ),
    (
        "positive-index-b1",
        "dpo",
        {"positive": torch.tensor([[0], [0], [1]])},
        r"positive: an integer index must have shape \(3,\), got \(3, 1\)",
    ),
    ("positive-float", "dpo", {"positive": torch.tensor([0.0, 0.0, 1.0])}, "positive must be"),
    ("positive-list", "dpo", {"positive": [0, 0, 1]}, "positive must be a torch.Tensor"),
    (
        "positive-index-on-padded-slot",
        "dpo",
        {"positive": torch.tensor([0, 0, 2])},
        "positive: row 2: marks a padded response",
    ),
    ("ref-bool", "dpo", {"ref": B.ref < -5}, "ref_logps must hold real numbers, got torch.bool"),
    (
        "rewards-complex",
        "plackett_luce",
        {"rewards": B.rewards.to(torch.complex128)},
        "rewards must hold real numbers",
    ),
    ("lengths-bool", "simpo", {"lengths": B.lengths > 0}, "lengths must hold real numbers"),
    (
        "lengths-zero-on-valid",
        "simpo",
        {"lengths": torch.tensor([[5.0, 7.0, 4.0], [0.0, 0.0, 0.0], [6.0, 0.0, 0.0]])},
        "lengths: row 2: must be > 0",
    ),
    (
        "rewards-nan-on-valid",
        "mmpo",
        {"rewards": B.rewards.masked_fill(torch.eye(3, dtype=torch.bool), math.nan)},
        "rewards: row 0: is not finite",
    ),
]


@pytest.mark.parametrize(
    ("loss", "changes", "message"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_input_raises_one_clear_value_error(loss, changes, message):
    """Property: each malformed input (wrong dtype, shape or type; a bad value on a valid row)
    raises a ValueError that names the loss and the field, the row where one is at fault, and
    what was given. Guards against a torch error from deep inside a loss (one_hot, gather,
    broadcasting) or a silently wrong loss (a uint8 mask read as indices, a (B, 1) index
    broadcast against (B, k))."""
    with pytest.raises(ValueError, match=f"{loss}: {message}"):
        get_loss(loss)(*B.with_(**changes).args())


# -- edge inputs that are valid -------------------------------------------------------------
def _same(b: Batch) -> Batch:
    return b


def _integer_values(b: Batch) -> Batch:
    return b.with_(ref=b.ref.round().long(), rewards=(b.rewards * 10).long())


def _integer_values_as_floats(b: Batch) -> Batch:
    return b.with_(ref=b.ref.round(), rewards=(b.rewards * 10).long().double())


EDGES = {
    # name: (the edge input, the same values in the plain layout)
    "float-lengths-zero-on-padding": (
        lambda b: b.with_(lengths=b.lengths.double().masked_fill(~b.mask, 0.0)),
        _same,
    ),
    "rewards-nan-on-padding": (
        lambda b: b.with_(rewards=b.rewards.masked_fill(~b.mask, math.nan)),
        _same,
    ),
    "positive-uint8-index": (
        lambda b: b.with_(positive=torch.tensor([0, 255, 1], dtype=torch.uint8)),
        _same,
    ),
    "integer-ref-and-rewards": (_integer_values, _integer_values_as_floats),
}


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("edge", list(EDGES))
def test_valid_edge_inputs_work(case, edge):
    """Property: valid edge inputs (garbage on padding, a uint8 index, integer reference
    log-probs and rewards) give the loss of the same values in the plain layout, finite, with a
    finite gradient. Guards against validation that refuses legal inputs or lets padding leak."""
    edge_input, plain = EDGES[edge]
    b = padded_batch()
    edged = edge_input(b)
    policy = edged.policy.clone().requires_grad_()
    loss = case(edged, policy=policy)[0]
    loss.sum().backward()
    torch.testing.assert_close(loss, case(plain(b))[0], rtol=0, atol=0)
    assert policy.grad.isfinite().all()


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_empty_batch(case):
    """Property: B = 0 gives a loss of shape (0,), metrics of shape (0,) and a backward pass.
    Guards against a reduction or a validation step that fails on an empty batch (the last
    micro-batch of a filtered dataset)."""
    b = padded_batch()
    empty = Batch(*(x[:0] for x in b.args()))
    policy = empty.policy.clone().requires_grad_()
    loss, metrics = case(empty, policy=policy)
    loss.sum().backward()
    assert loss.shape == (0,) and all(v.shape == (0,) for v in metrics.values())
    assert policy.grad.shape == (0, 3)
