"""Device discipline without a GPU: every strategy runs on array-api-strict's second device.

array-api-strict implements only the array API standard and keeps arrays on named devices,
raising on any operation that mixes devices. A strategy that creates a helper array on the
default device (a missing `device=`), or uses a numpy-only idiom, fails here exactly as it would
on CUDA.
"""

import array_api_strict as xps
import numpy as np
import pytest
from selection_cases import k_for

from selection import get_strategy, select, strategy_names

DEVICE = xps.Device("device1")
HOST = xps.Device("CPU_DEVICE")


def _host(x):
    return np.from_dlpack(x.to_device(HOST))


@pytest.mark.parametrize("name", strategy_names())
def test_strict_array_api_on_a_second_device(name):
    """Same answer as numpy, result on the input's device. Guards against: arrays created on the
    default device and calls outside the array API standard."""
    g = np.random.default_rng(0)
    rewards, embeddings = g.normal(size=(6, 12)), g.normal(size=(6, 12, 4))
    mask = np.arange(12)[None, :] < np.array([12, 5, 9, 12, 7, 10])[:, None]
    k = k_for(name, 4)
    sel = select(
        name,
        xps.asarray(rewards, device=DEVICE),
        xps.asarray(embeddings, device=DEVICE),
        k,
        mask=xps.asarray(mask, device=DEVICE),
        seed=2,
    )
    assert sel.indices.device == DEVICE
    ref = select(name, rewards, embeddings, k, mask=mask, seed=2)
    np.testing.assert_array_equal(_host(sel.indices), ref.indices)


def test_errors_name_the_prompt_on_a_second_device():
    rewards = np.zeros((3, 6))
    rewards[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"prompt 1: response 2: reward is nan"):
        select("top_k", xps.asarray(rewards, device=DEVICE), None, 3)


@pytest.mark.parametrize("name", [n for n in strategy_names() if get_strategy(n).needs_embeddings])
def test_duplicates_and_extreme_scales_on_a_second_device(name):
    """Collapsing duplicates and rescaling out-of-range pools stay on the input's device: a
    pool with copies, one scaled by 1e-200 and one by 1e160, gives numpy's answer and count."""
    g = np.random.default_rng(1)
    rewards, embeddings = g.normal(size=(4, 10)), g.normal(size=(4, 10, 3))
    embeddings[:, 8:] = embeddings[:, [2, 5]]  # two copies per prompt
    rewards[:, 8:] = rewards[:, [2, 5]] - 1.0
    embeddings[1] *= 1e-200
    embeddings[2] *= 1e160
    k = k_for(name, 4)
    sel = select(
        name, xps.asarray(rewards, device=DEVICE), xps.asarray(embeddings, device=DEVICE), k
    )
    ref = select(name, rewards, embeddings, k)
    assert sel.collapsed.device == DEVICE
    np.testing.assert_array_equal(_host(sel.indices), ref.indices)
    np.testing.assert_array_equal(_host(sel.collapsed), ref.collapsed)
    assert ref.collapsed.tolist() == [2, 2, 2, 2]
