"""Fixtures of the evaluation tests: the scripted judge server, built-in models under a
temporary cache."""

from __future__ import annotations

import threading

import pytest
from judge_server import JudgeServer


@pytest.fixture(scope="session", autouse=True)
def _ampo_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("AMPO_CACHE", str(tmp_path_factory.mktemp("ampo-cache")))
    yield
    mp.undo()


@pytest.fixture
def judge_server():
    servers = []

    def start(script=(), fail_after=None):
        server = JudgeServer(script, fail_after)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A checkpoint of the trainer's tiny recipe (an HF folder), made once per session at 1 thread."""
    import torch

    from training.__main__ import main as train

    run_dir = tmp_path_factory.mktemp("tiny-run")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train([
            "pipeline", "--config", "tiny", "--run_dir", str(run_dir), "--data.limit", "12",
            "--generate.n", "6", "--generate.max_new_tokens", "12", "--select.k", "4",
            "--ref_logps.batch_size", "4", "--train.epochs", "1",
            "--train.batch_size", "2", "--train.grad_accum", "2",
        ])  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    checkpoint = run_dir / "train" / "checkpoints" / "step-000003"
    assert (checkpoint / "config.json").is_file()
    return checkpoint
