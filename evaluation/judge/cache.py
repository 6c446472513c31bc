"""The judge's persistent cache: one SQLite file in WAL mode, one row per judged request.

Key: sha256 of the canonical JSON (sorted keys, no whitespace) of the backend's identity
(backend, base_url or model path; never a credential), the model name, the messages and every
decoding parameter (`JudgeRequest.decoding()`), and a retry's attempt number (k > 0 only). A row
is committed as soon as its reply arrives (`put`), so a crash or Ctrl-C loses only the requests
in flight, and a re-run pays for nothing it already has. Threads share one connection under a lock; WAL lets a second process read meanwhile.

Schema: replies(key TEXT PRIMARY KEY, request TEXT, reply TEXT, created REAL) where `request` is
the canonical JSON that was hashed (for audit) and `reply` is `JudgeReply.to_dict()` as JSON.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evaluation.judge.base import JudgeReply, JudgeRequest

SCHEMA = """CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    reply TEXT NOT NULL,
    created REAL NOT NULL
)"""


def canonical(identity: dict, request: JudgeRequest) -> str:
    """The text whose sha256 is the key: everything that can change the reply."""
    payload = {
        "judge": identity,
        "model": request.model,
        "messages": [{"role": m["role"], "content": m["content"]} for m in request.messages],
        "decoding": request.decoding(),
    }
    if request.attempt:  # a retry has its own row, so a re-run replays the retries too
        payload["attempt"] = request.attempt
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class JudgeCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a process crash loses nothing
        self._db.execute(SCHEMA)
        self._lock = threading.Lock()

    @staticmethod
    def key(identity: dict, request: JudgeRequest) -> str:
        return hashlib.sha256(canonical(identity, request).encode()).hexdigest()

    def get(self, key: str) -> JudgeReply | None:
        from evaluation.judge.base import JudgeReply

        with self._lock:
            row = self._db.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        return None if row is None else JudgeReply.from_dict(json.loads(row[0]), cached=True)

    def put(self, key: str, identity: dict, request: JudgeRequest, reply: JudgeReply) -> None:
        """Commit one reply now (autocommit: each statement is its own transaction)."""
        row = (key, canonical(identity, request), json.dumps(reply.to_dict()), time.time())
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?)", row)

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
