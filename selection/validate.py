"""Input checks of the selection API: one clear ValueError naming the prompt, response and field.

Scalars are checked by kind: a bool is a Python bool or numpy bool_; an int is a Python int or
numpy integer, never a bool; a real number is an int or float (numpy's too), never a bool. A
strategy's options are checked the same way, generically, from the annotations of its options
dataclass (`option_kinds`), and come back as plain Python values.
"""

from __future__ import annotations

import dataclasses
import types
import typing

import numpy as np

from .arrays import array_namespace, device, to_numpy

# Seeds and keys are hashed as int64 (selection.rng).
MAX_SEED = 2**63 - 1


class SelectionInputError(ValueError):
    """Bad input to a selection strategy; `prompt` is the row in the batch, `field` the input."""

    def __init__(self, message: str, *, prompt: int | None = None, field: str | None = None):
        where = f"prompt {prompt}: " if prompt is not None else ""
        super().__init__(where + message)
        self.prompt = prompt
        self.field = field


def is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not is_bool(value)


def is_real(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not is_bool(value)


@dataclasses.dataclass(frozen=True)
class Kind:
    """A scalar kind: its test, how an error describes it, and the plain Python type it becomes."""

    test: typing.Callable[[object], bool]
    description: str
    plain: type


KINDS = {
    bool: Kind(is_bool, "a bool (True or False)", bool),
    int: Kind(is_int, "an int (numpy integers too, not a bool)", int),
    float: Kind(is_real, "a real number (an int or float, not a bool or str)", float),
    str: Kind(lambda v: isinstance(v, str), "a str", str),
}


def check_int(value, field: str, minimum: int, maximum: int | None = None, what=None) -> int:
    """An int (numpy integers too, not bool) in [minimum, maximum], as a Python int; `what`
    describes the range in the error (default: ">= minimum")."""
    what = what or f">= {minimum}"
    if not is_int(value) or value < minimum or (maximum is not None and value > maximum):
        raise SelectionInputError(
            f"{field} must be an int {what} (numpy integers too, not a bool), got {value!r}",
            field=field,
        )
    return int(value)


def check_positive(value, field: str) -> float:
    """A real number > 0 (not NaN), as a Python float."""
    if not is_real(value) or not value > 0:
        raise SelectionInputError(
            f"{field} must be > 0 (a real number), got {value!r}", field=field
        )
    return float(value)


def check_choice(value, field: str, choices: tuple[str, ...]) -> str:
    """A str among `choices`."""
    if not isinstance(value, str) or value not in choices:
        raise SelectionInputError(f"{field} must be one of {choices}, got {value!r}", field=field)
    return value


def check_seed(seed) -> int:
    """A non-negative int or numpy integer that fits in int64."""
    return check_int(seed, "seed", 0, MAX_SEED, what=">= 0 and < 2**63")


def check_progress(progress) -> bool | None:
    if progress is not None and not is_bool(progress):
        raise SelectionInputError(
            f"progress must be True, False or None (automatic), got {progress!r}", field="progress"
        )
    return None if progress is None else bool(progress)


def check_k(k, group_size: int | None, strategy: str) -> int:
    """k is an int >= 2 (one positive and at least one negative), and a fixed group size matches."""
    if not is_int(k):
        raise SelectionInputError(
            f"k must be an int (numpy integers too, not a bool), got {k!r}", field="k"
        )
    if k < 2:
        raise SelectionInputError(
            f"k must be >= 2 (one positive and at least one negative), got k={k}", field="k"
        )
    if group_size is not None and k != group_size:
        raise SelectionInputError(
            f"strategy {strategy!r} selects exactly {group_size} responses, got k={k}", field="k"
        )
    return int(k)


def option_kinds(options: type) -> dict[str, tuple[Kind, bool]]:
    """name -> (kind, None allowed) of every field of an options dataclass.

    Raises TypeError for an annotation other than bool, int, float, str or `X | None` of these,
    so a strategy with an option this module cannot check fails when it is registered.
    """
    hints = typing.get_type_hints(options)
    kinds = {}
    for f in dataclasses.fields(options):
        hint = hints[f.name]
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        args = typing.get_args(hint) if union else (hint,)
        allows_none = type(None) in args
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1 or rest[0] not in KINDS:
            raise TypeError(
                f"option {f.name!r} of {options.__name__} is annotated {hint}; options must be "
                f"one of {[t.__name__ for t in KINDS]}, optionally `| None`"
            )
        kinds[f.name] = (KINDS[rest[0]], allows_none)
    return kinds


def check_options(strategy: str, options: type, values: dict) -> dict:
    """Check option values against the annotations of `options`; plain Python values back.

    An unknown name or a value of the wrong kind raises a SelectionInputError naming the option.
    """
    kinds = option_kinds(options)
    unknown = sorted(set(values) - set(kinds))
    if unknown:
        valid = ", ".join(sorted(kinds)) or "none"
        raise SelectionInputError(
            f"strategy {strategy!r} has no option {unknown[0]!r} (its options: {valid})",
            field=unknown[0],
        )
    checked = {}
    for name, value in values.items():
        kind, allows_none = kinds[name]
        if value is None and allows_none:
            checked[name] = None
        elif kind.test(value):
            checked[name] = kind.plain(value)
        else:
            expected = kind.description + (" or None" if allows_none else "")
            raise SelectionInputError(
                f"strategy {strategy!r}: option {name!r} must be {expected}, "
                f"got {value!r} ({type(value).__name__})",
                field=name,
            )
    return checked


def check_array(value, field: str):
    """The array API namespace of `value`, or an error naming the field."""
    try:
        return array_namespace(value)
    except TypeError:
        raise SelectionInputError(
            f"{field} must be an array (numpy, torch or another array API library), "
            f"got {type(value).__name__}",
            field=field,
        ) from None


def check_arrays(rewards, embeddings, mask):
    """One array library and one device for rewards, embeddings and mask; their namespace."""
    given = {"rewards": rewards, "embeddings": embeddings, "mask": mask}
    given = {name: a for name, a in given.items() if a is not None}
    spaces = {name: check_array(a, name) for name, a in given.items()}
    xp = spaces["rewards"]
    for name, space in spaces.items():
        if space is not xp:
            raise SelectionInputError(
                f"rewards, embeddings and mask must come from one array library: {name} is "
                f"{type(given[name]).__name__}, rewards {type(rewards).__name__}",
                field=name,
            )
    where = device(rewards)
    for name, a in given.items():
        if device(a) != where:
            raise SelectionInputError(
                f"{name} is on device {device(a)}, rewards on {where}: put them on one device",
                field=name,
            )
    return xp


def check_keys(keys, n_rows: int) -> np.ndarray:
    """(B,) int64 host keys: integers (any int64; uint64 wraps), one per prompt."""
    if keys is None:
        return np.arange(n_rows, dtype=np.int64)
    try:
        host = np.asarray(to_numpy(keys) if _is_array(keys) else keys)
    except (TypeError, ValueError, OverflowError) as err:
        raise SelectionInputError(f"keys must be {n_rows} integers: {err}", field="keys") from None
    if not np.issubdtype(host.dtype, np.integer):
        raise SelectionInputError(
            f"keys must be integers that fit in int64, got dtype {host.dtype}", field="keys"
        )
    if host.shape != (n_rows,):
        raise SelectionInputError(
            f"keys must have shape ({n_rows},), one per prompt, got shape {host.shape}",
            field="keys",
        )
    return host.astype(np.int64)


def _is_array(x) -> bool:
    try:
        array_namespace(x)
    except TypeError:
        return False
    return True


def _first_true(bad) -> tuple[int, ...]:
    """Index tuple of the first True entry of a boolean array (row-major)."""
    hits = to_numpy(bad).nonzero()
    return tuple(int(h[0]) for h in hits)


def check_shapes(rewards, embeddings, mask) -> None:
    """rewards (B, N) real; embeddings (B, N, d) real or None; mask (B, N) bool or None."""
    xp = array_namespace(rewards)
    if rewards.ndim != 2:
        raise SelectionInputError(
            f"rewards must have shape (B, N), got {tuple(rewards.shape)}", field="rewards"
        )
    if not xp.isdtype(rewards.dtype, ("real floating", "integral")):
        raise SelectionInputError(
            f"rewards must be real numbers (a float or integer dtype), got {rewards.dtype}",
            field="rewards",
        )
    if embeddings is not None:
        if embeddings.ndim != 3 or tuple(embeddings.shape[:2]) != tuple(rewards.shape):
            raise SelectionInputError(
                f"embeddings must have shape (B, N, d) = {(*rewards.shape, 'd')}, "
                f"got {tuple(embeddings.shape)}",
                field="embeddings",
            )
        if embeddings.shape[2] < 1:
            raise SelectionInputError("embeddings must have d >= 1 dimensions", field="embeddings")
        if not xp.isdtype(embeddings.dtype, ("real floating", "integral")):
            raise SelectionInputError(
                f"embeddings must be real numbers (a float or integer dtype), got "
                f"{embeddings.dtype}",
                field="embeddings",
            )
    if mask is not None:
        if tuple(mask.shape) != tuple(rewards.shape):
            raise SelectionInputError(
                f"mask must have the shape of rewards {tuple(rewards.shape)}, "
                f"got {tuple(mask.shape)}",
                field="mask",
            )
        if mask.dtype != xp.bool:
            raise SelectionInputError(
                f"mask must be boolean (True = a valid response), got {mask.dtype}", field="mask"
            )


def check_values(rewards, mask, k: int, row_offset: int = 0) -> None:
    """Pool sizes >= k and finite rewards on the valid (unmasked) responses."""
    xp = array_namespace(rewards)
    n_valid = xp.sum(xp.astype(mask, xp.int64), axis=1)  # (B,)
    small = n_valid < k
    if bool(xp.any(small)):
        (b,) = _first_true(small)
        raise SelectionInputError(
            f"k={k} exceeds the pool size N={int(n_valid[b])}", prompt=b + row_offset, field="k"
        )
    bad = mask & ~xp.isfinite(rewards)
    if bool(xp.any(bad)):
        b, i = _first_true(bad)
        raise SelectionInputError(
            f"response {i}: reward is {float(rewards[b, i])} (rewards must be finite)",
            prompt=b + row_offset,
            field="rewards",
        )


def check_finite_embeddings(embeddings, sq, mask, row_offset: int = 0) -> None:
    """Finite embeddings on the valid responses.

    sq (B, N): the squared norms from the Gram product, non-finite wherever an embedding is; the
    exact elementwise test runs only on those suspects (it clears a mere float overflow).
    """
    xp = array_namespace(embeddings)
    suspect = mask & ~xp.isfinite(sq)
    if not bool(xp.any(suspect)):
        return
    bad = suspect & ~xp.all(xp.isfinite(embeddings), axis=2)
    if bool(xp.any(bad)):
        b, i = _first_true(bad)
        raise SelectionInputError(
            f"response {i}: embedding has non-finite values",
            prompt=b + row_offset,
            field="embeddings",
        )
