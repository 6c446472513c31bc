"""The loss registry and the input contract: names, configs, validation, dtypes, metrics."""

import dataclasses
import math
from enum import Enum
from pathlib import Path

import pytest
import torch
from hypothesis import given
from loss_cases import CASE_IDS, CASES, Batch, batches, props

from training.losses import LOSSES, get_loss, loss_names, positive_mask

NAMES = list(LOSSES)
REPO = Path(__file__).resolve().parents[2]
STANDARD_METRICS = {"rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"}


def small_batch(dtype=torch.float64) -> Batch:
    """Two rows of k = 3: row 0 full, row 1 with slot 2 padded; positive in slot 0."""
    policy = torch.tensor([[-5.0, -7.0, -9.0], [-4.0, -6.0, 0.0]], dtype=dtype)
    ref = torch.tensor([[-6.0, -6.5, -8.0], [-5.0, -5.0, 0.0]], dtype=dtype)
    lengths = torch.tensor([[5, 7, 4], [3, 6, 1]])
    rewards = torch.tensor([[0.9, 0.2, 0.1], [0.7, 0.3, 0.0]], dtype=dtype)
    mask = torch.tensor([[True, True, True], [True, True, False]])
    positive = torch.tensor([[True, False, False], [True, False, False]])
    return Batch(policy, ref, lengths, rewards, mask, positive)


# -- the registry ---------------------------------------------------------------------------
def test_catalogue_covers_every_registered_loss():
    """Property: the test catalogue holds >= 1 case per registry key, and nothing else.
    Guards against a loss added to the registry that no property test ever runs."""
    assert {c.name for c in CASES} == set(LOSSES)
    assert loss_names() == tuple(LOSSES)


def test_the_required_losses_are_registered():
    """Property: the losses the issue asks for exist under their names.
    Guards against a renamed or dropped loss silently breaking configs."""
    required = {"ampo", "dpo", "ipo", "cdpo", "simpo", "mmpo", "infonca", "plackett_luce"}
    assert required <= set(LOSSES)


@pytest.mark.parametrize("name", NAMES)
def test_entry_is_consistent(name):
    """Property: an entry's key is its config's loss_name, its summary is one line, and every
    config field has help text. Guards against a registry key typed twice and drifting."""
    entry = get_loss(name)
    assert entry.name == name == entry.config_cls.loss_name
    assert entry.summary and "\n" not in entry.summary
    helps = entry.config_cls.field_help()
    assert helps and all(len(h) > 10 for h in helps.values())
    assert isinstance(entry.needs_reference(), bool)


def test_unknown_name_lists_every_valid_name():
    """Property: get_loss on an unknown name raises a ValueError naming every registered loss.
    Guards against error messages with a hand-typed (stale) list of names."""
    with pytest.raises(ValueError, match="unknown loss 'dpp'") as err:
        get_loss("dpp")
    assert all(name in str(err.value) for name in LOSSES)


@pytest.mark.parametrize("name", NAMES)
def test_unknown_hyperparameter_lists_the_fields(name):
    """Property: entry.config rejects an unknown key with a ValueError listing the fields.
    Guards against a typo in a recipe (e.g. `betta`) being silently ignored."""
    entry = get_loss(name)
    with pytest.raises(ValueError, match="betta") as err:
        entry.config(betta=1.0)
    assert all(f.name in str(err.value) for f in dataclasses.fields(entry.config_cls))


def _bad_values(cfg, field):
    value = getattr(cfg, field.name)
    if isinstance(value, Enum):
        return ["no_such_choice"]
    if isinstance(value, bool):
        return ["yes"]
    return [-1.0, math.nan, math.inf, "0.1", True]


@pytest.mark.parametrize("name", NAMES)
def test_configs_reject_bad_hyperparameters(name):
    """Property: every field rejects out-of-range, non-finite or mistyped values with a
    ValueError naming the loss and the field. Guards against e.g. beta = -1 training silently."""
    entry = get_loss(name)
    default = entry.config()
    for field in dataclasses.fields(entry.config_cls):
        for bad in _bad_values(default, field):
            with pytest.raises(ValueError, match=f"{name}: {field.name}"):
                entry.config(**{field.name: bad})


# the paper's hyperparameters that may be 0: no margin, no reward weighting, one-hot labels, no
# label smoothing; beta, tau and gamma_bt must be > 0 (gamma_bt = None is MMPO's hard target)
MAY_BE_ZERO = {"gamma", "alpha", "gamma_beta_ratio", "temperature", "label_smoothing"}


@pytest.mark.parametrize("name", NAMES)
def test_config_boundaries(name):
    """Property: each real-valued field accepts 0 exactly when the paper gives 0 a meaning
    (MAY_BE_ZERO) and otherwise refuses it naming the loss and the field; cDPO's label
    smoothing accepts 0.5 and refuses anything above. Guards against a > 0 check relaxed to
    >= 0 (beta = 0 makes every loss constant) and an off-by-one bound."""
    entry = get_loss(name)
    default = entry.config()
    for field in dataclasses.fields(entry.config_cls):
        if not isinstance(getattr(default, field.name), float):
            continue
        if field.name in MAY_BE_ZERO:
            assert getattr(entry.config(**{field.name: 0.0}), field.name) == 0.0
        else:
            with pytest.raises(ValueError, match=f"{name}: {field.name} must be > 0"):
                entry.config(**{field.name: 0.0})
    if "label_smoothing" in entry.config_cls.field_help():
        assert entry.config(label_smoothing=0.5).label_smoothing == 0.5
        with pytest.raises(ValueError, match=f"{name}: label_smoothing must be in"):
            entry.config(label_smoothing=0.5 + 1e-9)


# Every default, with its source: PAPER.md section 4 and the choices of paper/INDEX.md ([U]).
DEFAULTS = {
    # beta = 10, gamma = 3 [U, SimPO's v0.2 recipe]; alpha off; REFA-style score; AMPO's positive
    "ampo": {
        "beta": 10.0,
        "gamma": 3.0,
        "alpha": 0.0,
        "score": "length_normalised",
        "positives": "given",
        "weighting": "additive",
    },
    # the DPO convention beta = 0.1 [U], no margin, alpha = 1 [U], SWEPO's split and weights
    "swepo": {
        "beta": 0.1,
        "gamma": 0.0,
        "alpha": 1.0,
        "score": "log_ratio",
        "positives": "mean_split",
        "weighting": "deviation",
    },
    "dpo": {"beta": 0.1},  # DPO's and TRL's default
    "cdpo": {"beta": 0.1, "label_smoothing": 0.1},  # eps: ours [U]
    "ipo": {"tau": 0.1, "length_normalised": False},  # TRL's beta; the paper's sequence-level loss
    "simpo": {"beta": 2.5, "gamma_beta_ratio": 0.55},  # Llama-3-8B-Instruct
    "mmpo": {"beta": 0.01, "gamma_bt": 2.2},  # MMPO reference code, Llama-3-8B
    "infonca": {"beta": 0.1, "temperature": 1.0},  # [U]
    "plackett_luce": {"beta": 0.1},  # [U]
}


def test_defaults_are_the_documented_values():
    """Property: every field of every config defaults to its documented value (DEFAULTS, with
    its source). Guards against a default drifting from PAPER.md section 4 or from the choice
    paper/INDEX.md records, which every run without an override would inherit silently."""
    assert set(DEFAULTS) == set(LOSSES)
    for name, expected in DEFAULTS.items():
        cfg = get_loss(name).config()
        got = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
        got = {k: v.value if isinstance(v, Enum) else v for k, v in got.items()}
        assert got == expected, name


def test_configs_accept_strings_for_choices():
    """Property: choices may be given as strings (as YAML gives them) and set the config's
    needs. Guards against a string choice compared with an enum and silently ignored."""
    assert get_loss("simpo").config().gamma == pytest.approx(2.5 * 0.55)
    cfg = get_loss("ampo").config(score="log_ratio", positives="mean_split")
    assert cfg.uses_reference and cfg.uses_rewards and not cfg.uses_lengths
    assert get_loss("ampo").needs_reference(cfg) and not get_loss("ampo").needs_reference()


# -- the input contract ---------------------------------------------------------------------
OPTIONAL = {
    # Batch field: (argument name, the config's flag, a change the loss must see if it reads it)
    "ref": ("ref_logps", "uses_reference", lambda x: 3 * x + 1),
    "lengths": ("lengths", "uses_lengths", lambda x: 3 * x + 1),
    "rewards": ("rewards", "uses_rewards", lambda x: -x),  # reverses the ranking too
}


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("field", list(OPTIONAL))
def test_optional_inputs_match_the_config(case, field):
    """Property: a loss whose config says it does not read reference log-probs, lengths or
    rewards works with None there and ignores their values; one that reads them refuses None
    with a ValueError naming the field, and its loss changes when they change. Guards against
    a loss secretly reading an input (or its config flag being wrong, which would demand an
    input, e.g. rewards for one-hot InfoNCA, or skip its validation)."""
    name, flag, change = OPTIONAL[field]
    b = small_batch()
    changed = case(b, **{field: change(getattr(b, field))})[0]
    if getattr(case.cfg, flag):
        with pytest.raises(ValueError, match=f"{case.name}: {name} is required"):
            case(b, **{field: None})
        assert not torch.equal(changed, case(b)[0])
    else:
        torch.testing.assert_close(case(b, **{field: None})[0], changed, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("change", "field", "row"),
    [
        ({"positive": torch.tensor([[True, False, False], [False, False, True]])}, "positive", 1),
        ({"positive": torch.tensor([[False, False, False], [True, False, False]])}, "positive", 0),
        ({"positive": torch.tensor([[True, False, False], [True, True, False]])}, "mask", 1),
        ({"policy": torch.tensor([[-5.0, -7.0, -9.0], [-4.0, math.nan, 0.0]])}, "policy_logps", 1),
        ({"ref": torch.tensor([[-5.0, -math.inf, -9.0], [-4.0, -1.0, 0.0]])}, "ref_logps", 0),
        ({"rewards": torch.tensor([[0.9, 0.2, 0.1], [math.nan, 0.3, 0.0]])}, "rewards", 1),
        ({"lengths": torch.tensor([[5, 7, 4], [3, 0, 1]])}, "lengths", 1),
        ({"positive": torch.tensor([0, 3])}, "positive", 1),
    ],
)
def test_bad_inputs_name_the_field_and_the_row(change, field, row):
    """Property: inputs breaking the contract raise a ValueError naming the loss, the field and
    the first bad row. Guards against NaN losses or wrong gradients from malformed groups."""
    b = small_batch().with_(**change)
    # pick a loss that reads the field under test
    name = {"lengths": "simpo", "rewards": "plackett_luce"}.get(field, "dpo")
    with pytest.raises(ValueError, match=f"{name}: {field}: row {row}"):
        get_loss(name)(*b.args())


def test_bad_shapes_and_dtypes_are_refused():
    """Property: mismatched shapes, k < 2 and non-bool masks are refused up front.
    Guards against silent broadcasting of a (B,) tensor against (B, k)."""
    b = small_batch()
    dpo = get_loss("dpo")
    with pytest.raises(ValueError, match="ref_logps has shape"):
        dpo(*b.with_(ref=b.ref[:, :2]).args())
    with pytest.raises(ValueError, match="k >= 2"):
        dpo(*b.row(0, torch.tensor([True, False, False])).args())
    with pytest.raises(ValueError, match="mask must be a bool"):
        dpo(*b.with_(mask=b.mask.float()).args())
    with pytest.raises(ValueError, match="floating-point"):
        dpo(*b.with_(policy=b.policy.long()).args())
    with pytest.raises(TypeError, match="DPOConfig"):
        dpo(*b.args(), get_loss("ipo").config())


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_positive_as_index_equals_positive_as_mask(case):
    """Property: positive given as (B,) indices equals the one-hot (B, k) mask, and mask=None
    equals an all-True mask. Guards against the two accepted layouts drifting apart."""
    b = small_batch()
    full = b.with_(mask=torch.ones_like(b.mask))
    index = torch.tensor([0, 0])
    assert torch.equal(positive_mask(index, 3), b.positive)
    torch.testing.assert_close(case(b, positive=index)[0], case(b)[0], rtol=0, atol=0)
    torch.testing.assert_close(case(full, mask=None)[0], case(full)[0], rtol=0, atol=0)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@given(batch=batches())
@props(15)
def test_metrics_are_per_prompt_detached_and_zero_on_empty_rows(case, batch):
    """Property: metrics hold the four implicit-reward entries, each (B,), detached, finite, 0
    on empty rows, accuracies in [0, 1]. Guards against metrics that keep the graph alive
    (memory leak) or average padding into the logged numbers."""
    policy = batch.policy.clone().requires_grad_()
    loss, metrics = case(batch, policy=policy)
    assert loss.shape == (batch.mask.shape[0],)
    assert STANDARD_METRICS <= set(metrics)
    empty = ~batch.mask.any(-1)
    for value in metrics.values():
        assert value.shape == loss.shape and not value.requires_grad
        assert value.isfinite().all() and (value[empty] == 0).all()
    acc = metrics["rewards/accuracies"]
    assert ((acc >= 0) & (acc <= 1)).all()


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_low_precision_inputs_are_upcast(case):
    """Property: bf16 / fp16 inputs give the float32 loss of the same (rounded) values, and the
    gradient comes back in the input dtype. Guards against computing a loss in bf16 (a 3-digit
    mantissa makes log-prob differences of long responses meaningless)."""
    b = small_batch(torch.float32)
    for low in (torch.bfloat16, torch.float16):
        policy = b.policy.to(low).requires_grad_()
        loss, _ = case(b.to(low), policy=policy)
        assert loss.dtype == torch.float32
        expected, _ = case(b.to(low).to(torch.float32))
        torch.testing.assert_close(loss, expected, rtol=1e-6, atol=1e-6)
        loss.sum().backward()
        assert policy.grad.dtype == low


def test_index_lists_every_loss():
    """Property: the paper index names every registered loss. Guards against a loss added to
    the registry without its equation and test being documented."""
    texts = [p.read_text() for p in (REPO / "paper").glob("INDEX*.md")]
    assert texts, "paper/INDEX.md (or its losses section) is missing"
    text = "\n".join(texts)
    assert all(f"`{name}`" in text for name in LOSSES)
