"""Tokenised groups laid out for one forward pass: plain padding or prefix sharing.

A group batch holds B prompts, each with up to k responses (ragged: a (B, k) bool `mask` says
which slots are real), all tokenised under `training.chat.encode_pair`. Two layouts, one result:

- `pack_padded`: one row per real (prompt, response) pair, `prompt + response`, right-padded;
  a 2D attention mask (R, T), R = number of real responses.
- `pack_prefix_shared`: one row per prompt with at least one real response, the prompt once and
  then its responses one after another, `prompt + r_0 + r_1 + ...`; a 4D additive float mask
  (R, 1, T, T) in which each response attends to the whole prompt and causally to itself only,
  and position ids in which every response continues from the prompt length. Each response then
  sees exactly what it sees in its own padded row, so the log-probs are the same.

Either way the batch carries, for each response token (N of them in all, slot-major), flat
indices into the (R * T) positions of the rows:

    source (N,)  the position whose hidden state predicts the token (its left neighbour, or for
                 the first token of a response the prompt's last position)
    position (N,) the position of the token itself
    target (N,)  the token id
    slot (N,)    b * k + j, the (prompt, response) slot the token belongs to

so that log-probs are gathered with one vectorised index, and summed per slot with `index_add`.

Truncation: `max_length` bounds each prompt + response (its largest position id + 1) in both
layouts. A response that does not fit is cut (never the prompt), and counted in `n_truncated`
and `n_dropped_tokens`; a prompt that leaves no room for one response token is a ValueError
naming the prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

PADDED, PREFIX_SHARED = "padded", "prefix_shared"

TokenIds = Sequence[int]


@dataclass(frozen=True)
class Batch:
    """A laid-out group batch (module docstring). R rows of T positions; B prompts x k slots."""

    layout: str  # PADDED or PREFIX_SHARED
    input_ids: Tensor  # (R, T) long
    attention_mask: Tensor  # (R, T) long for PADDED; (R, 1, T, T) additive float for PREFIX_SHARED
    position_ids: Tensor  # (R, T) long
    source: Tensor  # (N,) long, flat index into R * T of the position predicting each token
    position: Tensor  # (N,) long, flat index into R * T of each response token
    target: Tensor  # (N,) long, the response token ids
    slot: Tensor  # (N,) long, b * k + j
    mask: Tensor  # (B, k) bool, the real response slots
    lengths: Tensor  # (B, k) long, response tokens kept (0 on absent slots)
    truncated: Tensor  # (B, k) bool, responses cut by max_length
    n_dropped_tokens: int  # response tokens removed by truncation
    n_tokens: int  # non-padding tokens in the rows (a shared prompt counted once)
    n_pair_tokens: int  # sum over real responses of prompt + kept response tokens

    @property
    def shape(self) -> tuple[int, int]:
        """(B, k)."""
        return tuple(self.mask.shape)

    @property
    def n_slots(self) -> int:
        """R * T: the positions the model computes, padding included."""
        return self.input_ids.numel()

    @property
    def n_truncated(self) -> int:
        return int(self.truncated.sum())

    @property
    def padding_fraction(self) -> float:
        return 1.0 - self.n_tokens / self.n_slots if self.n_slots else 0.0

    def to(self, device=None, dtype: torch.dtype | None = None) -> Batch:
        """The batch on `device`; a 4D mask re-expressed as an additive mask in `dtype` (the
        model's: sdpa wants the query's dtype, and eager adds a bool mask as 0/1)."""
        moved = {
            f.name: getattr(self, f.name).to(device)
            for f in fields(self)
            if isinstance(getattr(self, f.name), Tensor)
        }
        mask = moved["attention_mask"]
        if dtype is not None and mask.dim() == 4 and mask.dtype != dtype:
            allowed = mask if mask.dtype == torch.bool else mask == 0
            moved["attention_mask"] = additive_mask(allowed, dtype)
        return replace(self, **moved)

    def model_inputs(self) -> dict[str, Tensor]:
        """Keyword arguments of a Hugging Face decoder's forward."""
        return {
            "input_ids": self.input_ids,
            "attention_mask": self.attention_mask,
            "position_ids": self.position_ids,
        }


def additive_mask(allowed: Tensor, dtype: torch.dtype) -> Tensor:
    """Bool (True = attend) -> 0 where allowed, the dtype's most negative value elsewhere.

    An additive float mask, not a bool one: with eager attention a bool mask is added to the
    scores as 0/1 and silently attends everywhere."""
    out = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
    return out.masked_fill_(~allowed, torch.finfo(dtype).min)


# -- shared validation and truncation --------------------------------------------------------


@dataclass(frozen=True)
class _Pair:
    b: int
    j: int
    response: list[int]  # kept tokens
    dropped: int


def _as_mask(response_ids, mask) -> Tensor:
    if mask is None:
        b = len(response_ids)
        k = max((len(r) for r in response_ids), default=0)
        return torch.tensor([[j < len(r) for j in range(k)] for r in response_ids]).reshape(b, k)
    mask = torch.as_tensor(mask)
    if mask.dtype != torch.bool or mask.dim() != 2:
        raise ValueError(
            f"batching: mask must be a (B, k) bool tensor, got {mask.dtype} {tuple(mask.shape)}"
        )
    if mask.shape[0] != len(response_ids):
        raise ValueError(
            f"batching: mask has {mask.shape[0]} rows but there are {len(response_ids)} prompts' "
            "responses"
        )
    return mask.cpu()


def _pairs(
    prompt_ids, response_ids, mask, max_length
) -> tuple[list[list[int]], list[_Pair], Tensor]:
    """Validated prompts, the real (b, j) pairs with their kept response tokens, the mask."""
    if len(prompt_ids) != len(response_ids):
        raise ValueError(
            f"batching: {len(prompt_ids)} prompts but {len(response_ids)} response groups"
        )
    mask = _as_mask(response_ids, mask)
    prompts = [list(p) for p in prompt_ids]
    pairs = []
    for b, prompt in enumerate(prompts):
        if not mask[b].any():
            continue  # padding of the batch: nothing of it is laid out
        if not prompt:
            raise ValueError(
                f"batching: prompt {b} is empty (the first response token needs a predecessor)"
            )
        room = None if max_length is None else max_length - len(prompt)
        if room is not None and room < 1:
            raise ValueError(
                f"batching: prompt {b} has {len(prompt)} tokens; max_length={max_length} leaves "
                "no room for a response token (prompts are never truncated)"
            )
        for j in torch.nonzero(mask[b]).flatten().tolist():
            if j >= len(response_ids[b]) or not len(response_ids[b][j]):
                raise ValueError(
                    f"batching: response ({b}, {j}) is marked real but is missing or empty"
                )
            response = list(response_ids[b][j])
            kept = response if room is None else response[:room]
            pairs.append(_Pair(b, j, kept, len(response) - len(kept)))
    return prompts, pairs, mask


def _bookkeeping(pairs: list[_Pair], prompts, mask: Tensor) -> dict:
    k = mask.shape[1]
    lengths = torch.zeros(mask.shape, dtype=torch.long)
    truncated = torch.zeros(mask.shape, dtype=torch.bool)
    for p in pairs:
        lengths[p.b, p.j] = len(p.response)
        truncated[p.b, p.j] = p.dropped > 0
    slot = torch.cat(
        [torch.full((len(p.response),), p.b * k + p.j, dtype=torch.long) for p in pairs]
        or [torch.zeros(0, dtype=torch.long)]
    )
    target = torch.tensor([t for p in pairs for t in p.response], dtype=torch.long)
    return {
        "mask": mask,
        "lengths": lengths,
        "truncated": truncated,
        "n_dropped_tokens": sum(p.dropped for p in pairs),
        "n_pair_tokens": sum(len(prompts[p.b]) + len(p.response) for p in pairs),
        "slot": slot,
        "target": target,
    }


def _fill(rows: list[list[int]], pad_id: int) -> tuple[Tensor, Tensor]:
    """Right-padded (R, T) ids and the (R, T) bool mask of real tokens."""
    width = max((len(r) for r in rows), default=0)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    real = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        real[i, : len(row)] = True
    return ids, real


# -- the two layouts -------------------------------------------------------------------------


def pack_padded(
    prompt_ids: Sequence[TokenIds],
    response_ids: Sequence[Sequence[TokenIds]],
    mask: Tensor | None = None,
    pad_id: int = 0,
    max_length: int | None = None,
) -> Batch:
    """One right-padded row `prompt + response` per real response.

    prompt_ids: B token lists; response_ids: B lists of up to k token lists (response_ids[b][j]
    must exist where mask[b, j]); mask: (B, k) bool, None = every response given is real."""
    prompts, pairs, mask = _pairs(prompt_ids, response_ids, mask, max_length)
    rows = [prompts[p.b] + p.response for p in pairs]
    ids, real = _fill(rows, pad_id)
    width = ids.shape[1]
    position, source = [], []
    for i, p in enumerate(pairs):
        start = i * width + len(prompts[p.b])
        tokens = torch.arange(start, start + len(p.response))
        position.append(tokens)
        source.append(tokens - 1)
    empty = [torch.zeros(0, dtype=torch.long)]
    return Batch(
        layout=PADDED,
        input_ids=ids,
        attention_mask=real.long(),
        position_ids=torch.arange(width).expand(len(rows), width).contiguous(),
        source=torch.cat(source or empty),
        position=torch.cat(position or empty),
        n_tokens=int(real.sum()),
        **_bookkeeping(pairs, prompts, mask),
    )


def pack_prefix_shared(
    prompt_ids: Sequence[TokenIds],
    response_ids: Sequence[Sequence[TokenIds]],
    mask: Tensor | None = None,
    pad_id: int = 0,
    max_length: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> Batch:
    """One row per prompt: the prompt once, then its real responses one after another.

    Same arguments as `pack_padded`; `dtype` is the float type of the additive (R, 1, T, T) mask
    (the model's; `Batch.to` converts it)."""
    prompts, pairs, mask = _pairs(prompt_ids, response_ids, mask, max_length)
    by_prompt: dict[int, list[_Pair]] = {}
    for p in pairs:
        by_prompt.setdefault(p.b, []).append(p)
    rows, segments, positions = [], [], []
    for b, group in by_prompt.items():
        prompt = prompts[b]
        rows.append(prompt + [t for p in group for t in p.response])
        segments.append(
            [0] * len(prompt) + [s + 1 for s, p in enumerate(group) for _ in p.response]
        )
        positions.append(
            list(range(len(prompt)))
            + [len(prompt) + i for p in group for i in range(len(p.response))]
        )
    ids, real = _fill(rows, pad_id)
    width = ids.shape[1]
    segment = torch.full(
        ids.shape, -1, dtype=torch.long
    )  # (R, T): 0 prompt, s + 1 response s, -1 pad
    position_ids = torch.zeros(ids.shape, dtype=torch.long)
    for i, (seg, pos) in enumerate(zip(segments, positions, strict=True)):
        segment[i, : len(seg)] = torch.tensor(seg, dtype=torch.long)
        position_ids[i, : len(pos)] = torch.tensor(pos, dtype=torch.long)

    position, source = [], []
    for i, group in enumerate(by_prompt.values()):
        row_start = i * width
        last_prompt = row_start + len(prompts[group[0].b]) - 1
        start = last_prompt + 1
        for p in group:
            tokens = torch.arange(start, start + len(p.response))
            position.append(tokens)
            source.append(torch.cat([torch.tensor([last_prompt]), tokens[:-1]]))
            start += len(p.response)
    empty = [torch.zeros(0, dtype=torch.long)]
    return Batch(
        layout=PREFIX_SHARED,
        input_ids=ids,
        attention_mask=additive_mask(block_mask(segment), dtype)[:, None],
        position_ids=position_ids,
        source=torch.cat(source or empty),
        position=torch.cat(position or empty),
        n_tokens=int(real.sum()),
        **_bookkeeping(pairs, prompts, mask),
    )


def block_mask(segment: Tensor) -> Tensor:
    """(R, T) segment ids (0 prompt, s > 0 response s, -1 padding) -> (R, T, T) bool, True where
    query t may attend key u: causal within the prompt; a response sees the whole prompt and
    itself causally; padding sees only itself (a row with no key would give NaN)."""
    t = segment.shape[-1]
    causal = torch.ones(t, t, dtype=torch.bool).tril()  # (T, T)
    q, kv = segment[:, :, None], segment[:, None, :]  # (R, T, 1), (R, 1, T)
    prompt_key = (kv == 0) & (q >= 0)
    same_response = (kv == q) & (q > 0)
    diagonal = torch.eye(t, dtype=torch.bool)
    return (causal & (prompt_key | same_response)) | diagonal


# layout name -> packing function (the trainer's `train.layout`)
LAYOUTS = {PADDED: pack_padded, PREFIX_SHARED: pack_prefix_shared}
