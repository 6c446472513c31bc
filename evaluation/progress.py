"""Answers kept as they arrive, so an interrupted generation resumes where it stopped.

`Progress(final_path, fingerprint)` keeps `<final>.partial.jsonl` beside the final file: one line
per finished item `{"key", "value"}`, flushed and fsynced in chunks. Its first line holds the
fingerprint of what produces the answers (model, decoding, data hash); a partial file with
another fingerprint belongs to another run and is refused, never mixed in. The caller writes
the final file atomically, then calls `finish()`, which deletes the partial file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


class Progress:
    def __init__(self, final_path: str | Path, fingerprint: dict):
        self.path = Path(final_path).with_name(Path(final_path).name + ".partial.jsonl")
        self.fingerprint = json.loads(json.dumps(fingerprint, sort_keys=True))
        self.done: dict[str, object] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        lines = self.path.read_text(encoding="utf-8").splitlines()
        try:
            head = json.loads(lines[0]) if lines else None
        except json.JSONDecodeError:
            head = None
        if not isinstance(head, dict) or head.get("fingerprint") != self.fingerprint:
            raise ValueError(
                f"{self.path}: an unfinished generation with other settings (model, decoding or "
                "data) is here; delete it, or resume with the settings it was started with"
            )
        for n, line in enumerate(lines[1:], start=2):
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                if n == len(lines):  # a line cut by the interruption: redone
                    break
                raise ValueError(f"{self.path}, line {n}: not JSON") from None
            self.done[item["key"]] = item["value"]

    def add(self, items: dict[str, object]) -> None:
        """Record finished items (key -> JSON-serialisable value) durably."""
        new = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            if new:
                handle.write(json.dumps({"fingerprint": self.fingerprint}) + "\n")
            for key, value in items.items():
                handle.write(json.dumps({"key": key, "value": value}, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.done.update(items)

    def finish(self) -> None:
        self.path.unlink(missing_ok=True)
