"""Fixtures of the pipeline tests: the shrunk tiny pipeline, run once per session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from pipeline_helpers import SMALL

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, one_thread):
    """The shrunk tiny pipeline through the CLI, in this process: its run_dir (do not modify)."""
    from training.__main__ import main

    run_dir = tmp_path_factory.mktemp("tiny-run")
    assert main(["pipeline", "--config", "tiny", "--run_dir", str(run_dir), *SMALL]) == 0
    return run_dir


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    """A writable copy of the finished run's stage files (without the checkpoints)."""
    dest = tmp_path / "run"
    shutil.copytree(tiny_run, dest, ignore=shutil.ignore_patterns("train"))
    return dest


@pytest.fixture
def subprocess_env():
    """The environment of a `python -m training` child: this checkout first, one thread."""
    env = dict(os.environ)  # AMPO_CACHE already points at the session's cache
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    return env
