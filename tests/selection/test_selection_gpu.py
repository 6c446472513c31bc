"""CUDA tensors select exactly what CPU tensors do (skipped without a CUDA device)."""

import numpy as np
import pytest
import torch
from selection_cases import k_for

from selection import select, strategy_names

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("name", strategy_names())
def test_cuda_equals_cpu(name):
    """Every strategy gives the CPU answer on CUDA, and returns tensors on the input's device."""
    g = np.random.default_rng(0)
    rewards = torch.from_numpy(g.normal(size=(64, 32)))
    embeddings = torch.from_numpy(g.normal(size=(64, 32, 48)))
    mask = torch.from_numpy(np.arange(32)[None, :] < g.integers(8, 33, size=(64, 1)))
    k = k_for(name, 8)
    cpu = select(name, rewards, embeddings, k, mask=mask, seed=1)
    gpu = select(name, rewards.cuda(), embeddings.cuda(), k, mask=mask.cuda(), seed=1)
    assert gpu.indices.device.type == "cuda"
    torch.testing.assert_close(gpu.indices.cpu(), cpu.indices)
