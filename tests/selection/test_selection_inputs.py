"""Every malformed argument of the selection API gets one SelectionInputError naming its field;
every well-formed one of another accepted kind (numpy scalars, integer arrays, read-only memory
maps) selects exactly what its plain counterpart does."""

import dataclasses
import warnings

import array_api_strict as xps
import numpy as np
import pytest
import torch

from selection import SelectionInputError, get_strategy, select, select_one, strategy_names
from selection.registry import Strategy
from selection.validate import KINDS, option_kinds

G = np.random.default_rng(0)
R = G.normal(size=(3, 6))
E = G.normal(size=(3, 6, 4))


def rejects(field, match, *args, **kwargs) -> SelectionInputError:
    """select(*args, **kwargs) raises one SelectionInputError naming `field`."""
    with pytest.raises(SelectionInputError, match=match) as info:
        select(*args, **kwargs)
    assert info.value.field == field, info.value
    return info.value


# A value of the wrong kind for each option kind (selection.validate.KINDS).
WRONG = {bool: ["no", 1, None], int: [2.5, True, "3", None], float: ["2", True, 1 + 1j], str: [3]}


def option_cases():
    for name in strategy_names():
        for option, (kind, allows_none) in option_kinds(get_strategy(name).options).items():
            plain = next(t for t, k in KINDS.items() if k is kind)
            for value in WRONG[plain]:
                if not (value is None and allows_none):
                    yield name, option, value


@pytest.mark.parametrize(("name", "option", "value"), list(option_cases()))
def test_every_option_rejects_a_value_of_the_wrong_kind(name, option, value):
    """Derived from the registry: each option of each strategy, given a value of another kind,
    raises naming the option. Guards against: "no" read as True, 2.5 swaps, "2" as a temperature."""
    err = rejects(option, rf"option '{option}' must be", name, R, E, 3, **{option: value})
    assert repr(value) in str(err)


def test_the_examples_of_each_kind():
    rejects("remove_positive", r"must be a bool", "ampo_coreset", R, E, 3, remove_positive="no")
    rejects("max_swaps", r"must be an int", "ampo_optselect", R, E, 3, max_swaps=2.5)
    rejects("temperature", r"must be a real number", "ampo_optselect", R, E, 3, temperature="2")
    rejects("bandwidth", r"real number .* or None", "dpp", R, E, 3, bandwidth="1")
    rejects("init", r"must be a str", "ampo_coreset", R, E, 3, init=3)


@pytest.mark.parametrize(
    ("name", "options", "plain"),
    [
        ("ampo_coreset", {"remove_positive": np.False_}, {"remove_positive": False}),
        ("ampo_optselect", {"max_swaps": np.int64(0)}, {"max_swaps": 0}),
        ("ampo_optselect", {"temperature": 2}, {"temperature": 2.0}),
        ("dpp", {"temperature": np.float32(0.5)}, {"temperature": 0.5}),
        ("dpp", {"bandwidth": np.int16(2)}, {"bandwidth": 2.0}),
        ("ampo_coreset", {"n_init": np.uint8(3)}, {"n_init": 3}),
    ],
)
def test_numpy_scalars_and_ints_are_accepted_as_plain_values(name, options, plain):
    """numpy bools, numpy integers and ints for floats are the plain Python values: the options
    hold plain Python types and the selection is the same."""
    made = get_strategy(name).make_options(**options)
    assert made == get_strategy(name).make_options(**plain)
    for field in dataclasses.fields(made):
        assert type(getattr(made, field.name)).__module__ == "builtins"
    np.testing.assert_array_equal(
        select(name, R, E, 3, **options).indices, select(name, R, E, 3, **plain).indices
    )


@pytest.mark.parametrize(
    ("name", "option", "value", "match"),
    [
        ("ampo_optselect", "temperature", float("nan"), r"temperature must be > 0"),
        ("ampo_optselect", "temperature", 0, r"temperature must be > 0"),
        ("dpp", "bandwidth", -1.0, r"bandwidth must be > 0"),
        ("ampo_coreset", "max_iter", 0, r"max_iter must be an int >= 1"),
        ("ampo_coreset", "init", "random", r"init must be one of \('kmeans\+\+', 'maximin'\)"),
        ("ampo_optselect", "max_swaps", -1, r"max_swaps must be an int >= 0"),
        ("top_k", "temperature", 1.0, r"'top_k' has no option 'temperature' \(its options: none\)"),
    ],
)
def test_option_values_out_of_range(name, option, value, match):
    rejects(option, match, name, R, E, 3, **{option: value})


def test_an_option_the_checker_cannot_check_fails_at_registration():
    """An options dataclass with an annotation outside bool/int/float/str (| None) is refused
    when the strategy is registered, not silently left unchecked."""

    @dataclasses.dataclass(frozen=True)
    class Odd:
        sizes: tuple = (1, 2)

    with pytest.raises(TypeError, match=r"option 'sizes' of Odd is annotated"):
        Strategy(name="odd", fn=lambda pool, k, o: None, summary="", options=Odd)


@pytest.mark.parametrize(
    ("keyword", "value", "match"),
    [
        ("seed", "a", r"seed must be an int >= 0 and < 2\*\*63"),
        ("seed", -1, r"seed must be an int >= 0"),
        ("seed", 1.5, r"seed must be an int"),
        ("seed", True, r"seed must be an int"),
        ("seed", None, r"seed must be an int"),
        ("seed", 2**63, r"seed must be an int >= 0 and < 2\*\*63"),
        ("chunk_size", 0, r"chunk_size must be an int >= 1"),
        ("chunk_size", 1.5, r"chunk_size must be an int"),
        ("chunk_size", "2", r"chunk_size must be an int"),
        ("chunk_size", True, r"chunk_size must be an int"),
        ("progress", "yes", r"progress must be True, False or None"),
        ("progress", 1, r"progress must be True, False or None"),
        ("duplicates", "drop", r"duplicates must be one of \('collapse', 'error'\)"),
        ("duplicates", None, r"duplicates must be one of"),
        ("k", True, r"k must be an int"),
        ("k", np.True_, r"k must be an int"),
        ("k", 3.0, r"k must be an int"),
        ("k", np.float64(3), r"k must be an int"),
        ("k", "3", r"k must be an int"),
        ("k", None, r"k must be an int"),
        ("k", torch.tensor(3), r"k must be an int"),
    ],
)
def test_api_keywords_of_the_wrong_kind(keyword, value, match):
    kwargs = {"k": 3, keyword: value}
    rejects(keyword, match, "random", R, E, **kwargs)


@pytest.mark.parametrize("strategy", [None, 3, ["top_k"]])
def test_strategy_must_be_a_str(strategy):
    err = rejects("strategy", r"strategy must be a str", strategy, R, E, 3)
    assert "ampo_coreset" in str(err)  # the valid names are listed


@pytest.mark.parametrize("k", [np.int64(3), np.int32(3), np.uint8(3)])
def test_numpy_integer_k_is_an_int(k):
    for name in ("kcenter", "top_k"):
        sel = select(name, R, E, k)
        assert sel.k == 3 and type(sel.k) is int
        np.testing.assert_array_equal(sel.indices, select(name, R, E, 3).indices)


@pytest.mark.parametrize(
    ("embeddings", "dtype"),
    [
        (E.astype(np.complex128), "complex128"),
        (torch.from_numpy(E.astype(np.complex64)), "complex64"),
        (E > 0, "bool"),
        (E.astype(object), "object"),
        (E.astype(str), "<U"),
    ],
)
def test_non_real_embeddings_are_rejected_naming_the_dtype(embeddings, dtype):
    """Complex embeddings used to lose their imaginary part with only a ComplexWarning."""
    rewards = torch.from_numpy(R) if isinstance(embeddings, torch.Tensor) else R
    rejects(
        "embeddings",
        rf"embeddings must be real numbers .*got \S*{dtype}",
        "kcenter",
        rewards,
        embeddings,
        3,
    )


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int64])
def test_integer_embeddings_select_like_their_float64_values(dtype):
    ints = np.round(E * 20 + (60 if dtype == np.uint8 else 0)).astype(dtype)
    for name in ("kcenter", "ampo_optselect"):
        np.testing.assert_array_equal(
            select(name, R, ints, 3).indices, select(name, R, ints.astype(np.float64), 3).indices
        )


@pytest.mark.parametrize(
    ("field", "kwargs", "match"),
    [
        ("mask", {"mask": np.ones((3, 6), dtype=np.int64)}, r"mask must be boolean .*int64"),
        ("mask", {"mask": np.ones((3, 6), dtype=bool).tolist()}, r"mask must be an array"),
        ("mask", {"mask": torch.ones((3, 6), dtype=torch.bool)}, r"one array library"),
        ("rewards", {"rewards": R.tolist()}, r"rewards must be an array .*got list"),
        ("rewards", {"rewards": R.astype(np.complex64)}, r"rewards must be real .*complex64"),
        ("rewards", {"rewards": R > 0}, r"rewards must be real numbers .*got bool"),
        ("embeddings", {"embeddings": E.tolist()}, r"embeddings must be an array .*got list"),
    ],
)
def test_arrays_of_the_wrong_kind(field, kwargs, match):
    args = {"rewards": R, "embeddings": E} | kwargs
    rejects(field, match, "kcenter", args.pop("rewards"), args.pop("embeddings"), 3, **args)


def test_mismatched_devices_torch():
    """A tensor on another device than the rewards is named before any arithmetic mixes them."""
    meta = torch.empty((3, 6, 4), dtype=torch.float64, device="meta")
    rejects(
        "embeddings",
        r"embeddings is on device meta, rewards on cpu",
        "kcenter",
        torch.from_numpy(R),
        meta,
        3,
    )
    mask = torch.ones((3, 6), dtype=torch.bool, device="meta")
    rejects("mask", r"mask is on device meta", "top_k", torch.from_numpy(R), None, 3, mask=mask)


def test_mismatched_devices_array_api_strict():
    host, other = xps.Device("CPU_DEVICE"), xps.Device("device1")
    rejects(
        "embeddings",
        r"embeddings is on device .*device1",
        "kcenter",
        xps.asarray(R, device=host),
        xps.asarray(E, device=other),
        3,
    )


@pytest.mark.parametrize(
    ("keys", "match"),
    [
        ([1.0, 2.0, 3.0], r"keys must be integers .*got dtype float64"),
        ([True, False, True], r"keys must be integers .*got dtype bool"),
        (["a", "b", "c"], r"keys must be integers .*got dtype <U1"),
        ([2**64, 1, 2], r"keys must be integers that fit in int64, got dtype object"),
        ([1, 2], r"keys must have shape \(3,\), one per prompt, got shape \(2,\)"),
        ([[1, 2, 3]], r"keys must have shape \(3,\), one per prompt, got shape \(1, 3\)"),
        (5, r"keys must have shape \(3,\), one per prompt, got shape \(\)"),
        ([[1], [2, 3]], r"keys must be 3 integers"),
    ],
)
def test_keys_say_whether_the_dtype_or_the_shape_is_wrong(keys, match):
    rejects("keys", match, "random", R, E, 3, keys=keys)


def test_keys_from_torch_and_numpy_agree():
    ref = select("random", R, E, 3, keys=[4, 5, 6]).indices
    np.testing.assert_array_equal(
        select("random", R, E, 3, keys=torch.tensor([4, 5, 6])).indices, ref
    )
    np.testing.assert_array_equal(select("random", R, E, 3, keys=np.int32([4, 5, 6])).indices, ref)


def test_read_only_memory_maps_select_without_warnings(tmp_path):
    """np.load(mmap_mode="r") gives read-only arrays; selection reads them without a warning
    (warnings are errors in this suite) and selects what in-memory arrays do."""
    np.save(tmp_path / "r.npy", R)
    np.save(tmp_path / "e.npy", E.astype(np.float32))
    r = np.load(tmp_path / "r.npy", mmap_mode="r")
    e = np.load(tmp_path / "e.npy", mmap_mode="r")
    for name in ("kcenter", "ampo_coreset"):
        np.testing.assert_array_equal(
            select(name, r, e, 3, chunk_size=2).indices,
            select(name, R, E.astype(np.float32), 3).indices,
        )


@pytest.mark.parametrize(
    ("call", "field", "match"),
    [
        (lambda: select_one("top_k", [1.0, 2.0, 3.0], None, 2), "rewards", r"must be an array"),
        (lambda: select_one("top_k", R, None, 2), "rewards", r"rewards must have shape \(N,\)"),
        (lambda: select_one("kcenter", R[0], E[0, :, 0], 2), "embeddings", r"shape \(N, d\)"),
        (lambda: select_one("random", R[0], None, 2, key=1.5), "key", r"key must be an int"),
        (lambda: select_one("random", R[0], None, 2, seed="0"), "seed", r"seed must be an int"),
    ],
)
def test_select_one_inputs(call, field, match):
    with pytest.raises(SelectionInputError, match=match) as info:
        call()
    assert info.value.field == field


@pytest.mark.parametrize("name", strategy_names())
def test_valid_inputs_of_other_kinds_select_alike(name):
    """Integer and float16 rewards, tensors that require grad, bfloat16 embeddings, an explicit
    all-True mask and the smallest pool (N = k = 2) are valid: no warning, the plain answer."""
    k = get_strategy(name).group_size or 3
    ref = select(name, R, E, k).indices
    ints = np.round(R * 100).astype(np.int64)  # same order as R
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(select(name, ints, E, k).indices, ref)
        np.testing.assert_array_equal(
            select(name, R, E, k, mask=np.ones((3, 6), bool)).indices, ref
        )
        r_t = torch.from_numpy(R).requires_grad_()
        e_t = torch.from_numpy(E).requires_grad_()
        np.testing.assert_array_equal(select(name, r_t, e_t, k).indices.numpy(), ref)
        half = select(name, torch.from_numpy(R).half(), torch.from_numpy(E).bfloat16(), k)
        assert half.indices.shape == (3, k)
        two = select(name, R[:, :2], E[:, :2], 2)
        for row, r in zip(two.indices.tolist(), R[:, :2], strict=True):
            assert row == [int(np.argmax(r)), int(np.argmin(r))]
