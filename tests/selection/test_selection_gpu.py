"""CUDA tensors select exactly what CPU tensors do (skipped without a CUDA device)."""

import numpy as np
import pytest
import torch
from selection_cases import k_for

from selection import select, strategy_names

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("name", strategy_names())
def test_cuda_equals_cpu(name):
    """Every strategy gives the CPU answer on CUDA, and returns tensors on the input's device;
    duplicate copies and pools scaled by 1e-200 or 1e160 included."""
    g = np.random.default_rng(0)
    r = g.normal(size=(64, 32))
    e = g.normal(size=(64, 32, 48))
    e[:, 1] = e[:, 0]  # a copy in every pool
    e[::5] *= 1e-200
    e[1::5] *= 1e160
    rewards, embeddings = torch.from_numpy(r), torch.from_numpy(e)
    mask = torch.from_numpy(np.arange(32)[None, :] < g.integers(12, 33, size=(64, 1)))
    k = k_for(name, 8)
    cpu = select(name, rewards, embeddings, k, mask=mask, seed=1)
    gpu = select(name, rewards.cuda(), embeddings.cuda(), k, mask=mask.cuda(), seed=1)
    assert gpu.indices.device.type == "cuda" and gpu.collapsed.device.type == "cuda"
    torch.testing.assert_close(gpu.indices.cpu(), cpu.indices)
    torch.testing.assert_close(gpu.collapsed.cpu(), cpu.collapsed)
