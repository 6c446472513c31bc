"""What the stages share: stable per-prompt keys and seeds, chunking, the stage config block."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Iterator
from itertools import islice


def prompt_key(prompt_id: str) -> int:
    """A stable signed 63-bit integer of a prompt id (selection keys, generation seeds)."""
    digest = hashlib.blake2b(prompt_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def prompt_seed(seed: int, prompt_id: str) -> int:
    """The sampling seed of one prompt: depends on (seed, prompt_id) only, so a resumed or
    re-ordered run draws the same samples for the same prompt."""
    digest = hashlib.blake2b(f"{seed}:{prompt_id}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little") >> 1


def chunks(items: Iterable, size: int) -> Iterator[list]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def section(obj) -> dict:
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else dict(obj)
