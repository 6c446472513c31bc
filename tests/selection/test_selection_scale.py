"""Scale invariance: every distance rule selects the same responses when a whole pool is scaled by
c > 0, from 1e-200 to 1e160 in float64 and across float32's range, because distances are
measured in units of each pool's own scale (selection.geometry)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from selection_cases import geometric_names, k_for, pools

from selection import SelectionInputError, select
from selection.geometry import squared_distances

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)
# float32 scales are powers of two (about 1e-30 to 1e30): pool * c is then exactly c times the
# pool, whereas rounding pool * 1e30 to float32 moves every coordinate by up to 6e-8 relative,
# which may rightly flip a near-tie (a DPP pick among rounding-level gains).
SCALES = {
    np.float64: (1e-200, 1e-20, 1.0, 1e20, 1e160),
    np.float32: (2.0**-100, 2.0**-33, 1.0, 2.0**33, 2.0**100),
}

# Offsets, in units of the pool's extent, that are recentred but leave the spread well above
# float32's resolution of the magnitude (duplicates.DUPLICATE_RTOL).
OFFSET = {np.float64: 100.0, np.float32: 10.0}


def _outcome(name, rewards, embeddings, k, mask):
    """The selected indices, or the message of the error (too few distinct responses)."""
    try:
        return select(name, rewards, embeddings, k, mask=mask, seed=7).indices.tolist()
    except SelectionInputError as err:
        return str(err)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", geometric_names())
@SETTINGS
@given(case=pools(ragged=True), far=st.booleans())
def test_selection_is_invariant_to_scaling_the_pool(name, dtype, case, far):
    """select(pool * c) == select(pool) for every c in SCALES[dtype], also for pools translated
    far from the origin before scaling (the recentred path).
    Guards against: pools at 1e-200 rejected as "all identical" (squares underflow), NaN
    distances at 1e160 (squares overflow), absolute tolerances or lengths anywhere."""
    rewards, embeddings, mask, k = case
    k = k_for(name, k)
    if k > mask.sum(axis=1).min():
        return
    if far:  # far enough from the origin to be recentred (geometry.MAX_OFFSET)
        extent = np.nanmax(np.abs(embeddings)) * OFFSET[dtype]
        embeddings = embeddings + extent * np.sign(np.arange(embeddings.shape[2]) - 0.5)
    embeddings = embeddings.astype(dtype)
    base = _outcome(name, rewards, embeddings, k, mask)
    for c in SCALES[dtype]:
        scaled = (embeddings.astype(np.float64) * c).astype(dtype)
        assert _outcome(name, rewards, scaled, k, mask) == base, f"c={c}"


@SETTINGS
@given(case=pools(), h=st.sampled_from([0.3, 1.0, 3.0]))
def test_dpp_bandwidth_is_an_absolute_length(case, h):
    """The DPP's `bandwidth` is in the embeddings' units: scaling the pool and the bandwidth by
    the same c changes nothing. Guards against: an absolute length used in the pool's units."""
    rewards, embeddings, _, k = case
    h = h * np.abs(embeddings).max()
    base = select("dpp", rewards, embeddings, k, bandwidth=h).indices
    for c in SCALES[np.float64]:
        got = select("dpp", rewards, embeddings * c, k, bandwidth=h * c).indices
        np.testing.assert_array_equal(got, base, err_msg=f"c={c}")


def test_dpp_bandwidth_known_answer():
    # The known-answer pool of test_selection_known_answers (x = 0, 1, 3, 10, 11, 12; rewards
    # 5, 3, 4, 0, 1, 2). With tau = 5 and h^2 = 50.6, the pool's mean squared distance, the
    # answer is [0, 3, 1] (one negative per island). With h = 0.1 every similarity between
    # distinct points is exp(-d^2 / 0.02) ~ 0, so the DPP keeps the two best qualities, the
    # lowest rewards: idx 3 (r 0) and idx 4 (r 1). Both hold at any scale c of the pool and h.
    x = np.array([0.0, 1.0, 3.0, 10.0, 11.0, 12.0])[None, :, None]
    r = np.array([[5.0, 3.0, 4.0, 0.0, 1.0, 2.0]])
    for c in (1e-200, 1.0, 1e160):
        wide = select("dpp", r, x * c, 3, temperature=5.0, bandwidth=np.sqrt(50.6) * c)
        narrow = select("dpp", r, x * c, 3, temperature=5.0, bandwidth=0.1 * c)
        assert wide.indices[0].tolist() == [0, 3, 1]
        assert narrow.indices[0].tolist() == [0, 3, 4]


@pytest.mark.parametrize(
    ("dtype", "c", "offset"),
    [
        (np.float64, 1e-200, 0.0),
        (np.float64, 1e-200, 50.0),
        (np.float64, 1.0, 0.0),
        (np.float64, 1e160, 0.0),
        (np.float64, 1e300, 50.0),
        (np.float32, 1e-30, 0.0),
        (np.float32, 1e-30, 30.0),
        (np.float32, 1e30, 0.0),
    ],
)
def test_distances_in_the_pools_unit_are_accurate(dtype, c, offset):
    """sqdist * 4**exponent is the pool's true squared distances (exact float64 differences of
    the unscaled pool, times c^2) within rounding relative to its spread, on the direct, the
    rescaled and the recentred paths. Guards against: a wrong exponent bookkeeping between the
    paths (a factor 2 or 4), overflow or underflow."""
    g = np.random.default_rng(1)
    e = g.normal(size=(5, 9, 16)) + offset
    e = (e.astype(dtype).astype(np.float64) * c).astype(dtype)  # the pool as given
    unscaled = e.astype(np.float64) / c
    ref = ((unscaled[:, :, None] - unscaled[:, None]) ** 2).sum(axis=-1)
    spread = ((unscaled - unscaled.mean(axis=1, keepdims=True)) ** 2).sum(axis=2).mean(axis=1)
    geo = squared_distances(e, np.ones((5, 9), dtype=bool))
    unit = np.ldexp(1.0, geo.exponent) / c  # the pool's unit, in the unscaled pool's units
    got = geo.sqdist.astype(np.float64) * (unit**2)[:, None, None]
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    assert np.abs(got - ref).max() <= rtol * spread.min()
    assert np.isfinite(geo.sqdist).all() and geo.sqdist.max() < 64 * 16


@pytest.mark.parametrize("name", geometric_names())
def test_float32_decimal_scales_on_separated_pools(name):
    """float32 pools multiplied by decimal scales from 1e-30 to 1e30 (inexact: each coordinate
    rounds) select as the unscaled pool does when no near-tie is in play (clustered pools)."""
    g = np.random.default_rng(2)
    e = g.normal(size=(20, 16, 8)) + 4 * g.normal(size=(20, 4, 8))[:, g.integers(0, 4, 16)]
    r = g.normal(size=(20, 16))
    base = select(name, r, e.astype(np.float32), 4, seed=3).indices
    for c in (1e-30, 1e-10, 1e10, 1e30):
        got = select(name, r, (e * c).astype(np.float32), 4, seed=3).indices
        np.testing.assert_array_equal(got, base, err_msg=f"c={c}")
