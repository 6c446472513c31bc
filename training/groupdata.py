"""Groups as the trainer consumes them: tokenised once, ordered by a seeded permutation per epoch.

The order of the data depends only on (seed, epoch), and the slice a process and micro-step take
of each optimizer step's global batch only on (rank, world size, micro-step): so one process with
accumulation, several processes, and a resumed run all see the same groups at the same step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from training.chat import encode_pair, encode_prompt
from training.records import RecordError


@dataclass(frozen=True)
class TokenisedGroup:
    prompt_id: str
    prompt_ids: list[int]
    response_ids: list[list[int]]  # k responses
    rewards: list[float]  # (k,)
    positive: int
    ref_logps: list[float] | None  # (k,) from the ref-logps stage
    lengths: list[int] | None  # (k,) response token counts recorded by the ref-logps stage


def tokenise_groups(records, tokenizer) -> list[TokenisedGroup]:
    """Token ids of every group's prompt and responses, under `training.chat`'s convention."""
    out = []
    for rec in records:
        pairs = [encode_pair(tokenizer, rec.prompt, response) for response in rec.responses]
        out.append(
            TokenisedGroup(
                prompt_id=rec.prompt_id,
                prompt_ids=pairs[0][0],
                response_ids=[r for _, r in pairs],
                rewards=[float(r) for r in rec.rewards],
                positive=int(rec.positive),
                ref_logps=None if rec.ref_logps is None else [float(x) for x in rec.ref_logps],
                lengths=None if rec.lengths is None else [int(x) for x in rec.lengths],
            )
        )
    return out


def check_prompt_room(records, tokenizer, max_length: int | None, file=None) -> None:
    """A RecordError naming the first group whose prompt alone leaves no room for a response
    token under `max_length` (responses are cut to fit, and counted; prompts never are)."""
    if max_length is None:
        return
    for line, rec in enumerate(records, start=1):
        n = len(encode_prompt(tokenizer, rec.prompt))
        if n >= max_length:
            raise RecordError(
                f"the prompt has {n} tokens; train.max_length={max_length} leaves no room for a "
                "response token (responses are truncated to fit, prompts never are)",
                field="prompt",
                prompt_id=rec.prompt_id,
                file=file,
                line=line if file is not None else None,
            )


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The permutation of the n groups used in `epoch` (depends on seed and epoch only)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=gen).tolist()


@dataclass(frozen=True)
class Schedule:
    """How the groups are cut into optimizer steps: global batch = B x accum x world."""

    n_groups: int
    batch_size: int  # groups per micro-batch and process
    grad_accum: int
    world_size: int
    seed: int

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.grad_accum * self.world_size

    @property
    def steps_per_epoch(self) -> int:
        """Full global batches per epoch (the incomplete last batch is left out)."""
        return self.n_groups // self.global_batch

    def micro_batch(self, step: int, micro: int, rank: int) -> list[int]:
        """Indices of the groups of (optimizer step, micro-step, rank)."""
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"{self.n_groups} groups do not fill one global batch of {self.global_batch} "
                f"(batch_size {self.batch_size} x grad_accum {self.grad_accum} x world "
                f"{self.world_size})"
            )
        epoch, within = divmod(step, self.steps_per_epoch)
        order = epoch_order(self.n_groups, self.seed, epoch)
        start = within * self.global_batch + (rank * self.grad_accum + micro) * self.batch_size
        return order[start : start + self.batch_size]


@dataclass(frozen=True)
class Collated:
    prompt_id: list[str]  # B, the groups' ids (for error messages)
    prompt_ids: list[list[int]]  # B
    response_ids: list[list[list[int]]]  # B x k_max (empty lists where masked)
    mask: torch.Tensor  # (B, k_max) bool
    rewards: torch.Tensor  # (B, k_max) float64
    positive: torch.Tensor  # (B,) int64
    ref_logps: torch.Tensor | None  # (B, k_max) float64
    lengths: torch.Tensor | None  # (B, k_max) recorded response lengths (0 where masked)


def collate(groups: list[TokenisedGroup]) -> Collated:
    """Stack B groups; ragged k is padded with masked empty slots."""
    k = max(len(g.response_ids) for g in groups)
    b = len(groups)
    mask = torch.zeros(b, k, dtype=torch.bool)
    rewards = torch.zeros(b, k, dtype=torch.float64)
    has_ref = all(g.ref_logps is not None for g in groups)
    has_len = all(g.lengths is not None for g in groups)
    ref = torch.zeros(b, k, dtype=torch.float64) if has_ref else None
    lengths = torch.zeros(b, k, dtype=torch.long) if has_len else None
    responses = []
    for i, g in enumerate(groups):
        n = len(g.response_ids)
        mask[i, :n] = True
        rewards[i, :n] = torch.tensor(g.rewards, dtype=torch.float64)
        if ref is not None:
            ref[i, :n] = torch.tensor(g.ref_logps, dtype=torch.float64)
        if lengths is not None:
            lengths[i, :n] = torch.tensor(g.lengths)
        responses.append(g.response_ids + [[] for _ in range(k - n)])
    return Collated(
        prompt_id=[g.prompt_id for g in groups],
        prompt_ids=[g.prompt_ids for g in groups],
        response_ids=responses,
        mask=mask,
        rewards=rewards,
        positive=torch.tensor([g.positive for g in groups], dtype=torch.long),
        ref_logps=ref,
        lengths=lengths,
    )
