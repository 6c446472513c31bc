"""Token sequences run through a model in length-sorted, padded batches; results back in order.

Shared by every stage that runs a forward pass over many (prompt, response) pairs (reward
scoring, policy embeddings): sorting by length keeps the padding small, `pad_batch` builds the
tensors for one batch on either side, and callers write each batch's results at its indices, so
the output is in input order whatever the batching.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PADDING_SIDES = ("right", "left")
TRUNCATION_SIDES = ("right", "left")


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Indices into `lengths`, longest first, cut into batches of at most `batch_size`.

    Longest first: an out-of-memory error shows on the first batch, not after an hour."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def truncate(ids: list[int], max_length: int | None, side: str = "right") -> tuple[list[int], bool]:
    """(ids cut to `max_length`, whether anything was cut); side "right" keeps the start,
    "left" keeps the end."""
    if side not in TRUNCATION_SIDES:
        raise ValueError(f"truncation side {side!r} not one of {', '.join(TRUNCATION_SIDES)}")
    if max_length is None or len(ids) <= max_length:
        return ids, False
    return (ids[:max_length] if side == "right" else ids[len(ids) - max_length :]), True


@dataclass(frozen=True)
class Padded:
    """One padded batch: ids (B, T), attention mask (B, T) (1 = token), position ids (B, T)
    counting real tokens from 0 (what an unpadded sequence would get, on either side)."""

    input_ids: object
    attention_mask: object
    position_ids: object


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int, side: str, device="cpu") -> Padded:
    """Sequences padded with `pad_id` on `side` to the longest one."""
    import torch

    if side not in PADDING_SIDES:
        raise ValueError(f"padding side {side!r} not one of {', '.join(PADDING_SIDES)}")
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        cols = slice(0, len(s)) if side == "right" else slice(width - len(s), width)
        ids[i, cols] = torch.as_tensor(list(s), dtype=torch.long)
        mask[i, cols] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # (B, T)
    return Padded(ids.to(device), mask.to(device), positions.to(device))


def progress(iterable, enabled: bool, desc: str, total: int | None = None):
    """`iterable` behind a tqdm bar when `enabled`."""
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, disable=not enabled, unit="batch")
