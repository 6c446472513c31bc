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
