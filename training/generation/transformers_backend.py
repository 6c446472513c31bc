"""The transformers backend: batched, left-padded `model.generate` in this process.

Prompts are rendered with the model's chat template (`training.chat.prompt_text`) and tokenised
without added special tokens (the template carries BOS where the model wants one), exactly as
the trainer and the reference log-probs see them. Batches are left-padded (`batch_size` counts
sequences: prompts x n), each prompt's n samples come from `num_return_sequences`; a sample ends
at the tokenizer's EOS or any EOS id of the checkpoint's generation config, at a stop string, or
after `max_new_tokens`. Temperature 0 is greedy decoding, done once and repeated n times.

Only `Sampling` shapes the distribution: the checkpoint's generation config contributes its token
ids (EOS, pad, BOS) and nothing else (no hidden top_k=50, repetition penalty or min_p): during
each call `model.generation_config` is swapped for an ids-only config (transformers fills every
unset field of the config we pass from it) and restored after. top_k is off, as in the OpenAI API
and vLLM.

What determines the draws (temperature > 0), on a given machine and library versions:
- `seeds` given: each prompt is generated in a batch of its own (its n samples), the torch RNG
  seeded with its request seed `seeds[i]`: its texts depend on (seed, rendered prompt, sampling).
- `seeds` not given: the call's prompts are cut, in order, into batches of `batch_size // n`
  prompts, and each batch is seeded with `derive_seed("batch", sampling.seed, the batch's rendered
  prompts)`: texts depend on (sampling.seed, the call's prompt list, batch_size, sampling).
Seeding happens inside `torch.random.fork_rng`, so the caller's global RNG state is untouched.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import contextmanager

from training.generation.base import (
    Completion,
    FinishReason,
    Generator,
    Prompt,
    TokenLogprob,
    TopLogprob,
    check_prompts,
    library_versions,
)
from training.generation.sampling import Sampling, derive_seed, request_seeds, truncate_at_stop


def _as_id_set(*values) -> set[int]:
    ids: set[int] = set()
    for v in values:
        if v is None:
            continue
        ids.update(v if isinstance(v, list | tuple) else [v])
    return ids


def left_pad(rows: Sequence[Sequence[int]], pad_id: int):
    """(input_ids, attention_mask), both (B, L): each row right-aligned after pad tokens."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, row in enumerate(rows):
        if row:
            ids[b, width - len(row) :] = torch.tensor(row, dtype=torch.long)
            mask[b, width - len(row) :] = 1
    return ids, mask


@contextmanager
def _torch_threads(count: int | None):
    import torch

    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class TransformersGenerator(Generator):
    name = "transformers"

    def __init__(
        self,
        model,
        tokenizer,
        *,
        model_name: str,
        batch_size: int = 16,
        num_threads: int | None = None,
    ):
        from transformers import GenerationConfig

        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"transformers backend: batch_size must be >= 1, got {batch_size!r}")
        self.model, self.tokenizer = model, tokenizer
        if num_threads is not None and num_threads < 1:
            raise ValueError(f"transformers backend: num_threads must be >= 1, got {num_threads}")
        self.model_name, self.batch_size, self.num_threads = model_name, batch_size, num_threads
        own = model.generation_config
        self.eos_ids = sorted(_as_id_set(tokenizer.eos_token_id, own.eos_token_id))
        if not self.eos_ids:
            raise ValueError(f"transformers backend: model {model_name} has no EOS token")
        self.pad_id = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_ids[0]
        )
        # Token ids only: this replaces the checkpoint's config during our calls (see docstring).
        self._ids_only = GenerationConfig(
            bos_token_id=own.bos_token_id, eos_token_id=self.eos_ids, pad_token_id=self.pad_id
        )
        self._lock = threading.Lock()  # one call at a time: the torch RNG is process-global

    @classmethod
    def from_spec(
        cls, spec, *, batch_size: int = 16, num_threads: int | None = None
    ) -> TransformersGenerator:
        """Load `spec` through `training.models` (the one loading module). `num_threads`: torch
        CPU threads during generation (restored after each call); on a busy machine one thread
        can be much faster than several."""
        from training.models import load_model, load_tokenizer

        if spec is None:
            raise ValueError("transformers backend: needs a model spec")
        return cls(
            load_model(spec),
            load_tokenizer(spec),
            model_name=spec.name_or_path,
            batch_size=batch_size,
            num_threads=num_threads,
        )

    # ---- the interface ----
    def generate(
        self, prompts: Sequence[Prompt], sampling: Sampling, seeds: Sequence[int] | None = None
    ) -> list[list[str]]:
        texts = self.render(prompts)
        return [[c.text for c in group] for group in self.complete(texts, sampling, seeds)]

    def render(self, prompts: Sequence[Prompt]) -> list[str]:
        from training.chat import prompt_text

        return [prompt_text(self.tokenizer, p) for p in check_prompts(prompts)]

    def describe(self, sampling: Sampling | None = None) -> dict:
        return {
            "backend": self.name,
            "model": self.model_name,
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "device": str(self.model.device),
            "batch_size": self.batch_size,
            "num_threads": self.num_threads,
            "eos_token_ids": self.eos_ids,
            "sampling": sampling.to_dict() if sampling else None,
            "versions": library_versions("torch", "transformers", "tokenizers"),
        }

    # ---- rendered text in, completions out (the server and the judge use this) ----
    def complete(
        self,
        texts: Sequence[str],
        sampling: Sampling,
        seeds: Sequence[int] | None = None,
        top_logprobs: int | None = None,
    ) -> list[list[Completion]]:
        """n completions of each already-rendered prompt text (no template applied here).

        `top_logprobs=k` also returns each generated token's log-prob under the model's raw
        logits (log_softmax, before temperature and top-p) and the k most likely tokens."""
        from training.chat import encode

        ids = [encode(self.tokenizer, t) for t in texts]
        empty = [i for i, row in enumerate(ids) if not row]
        if empty:
            raise ValueError(f"transformers backend: prompt {empty[0]} is empty")
        if seeds is not None:
            seeds = request_seeds(sampling, texts, seeds)
            batches = [([i], s) for i, s in enumerate(seeds)]
        else:
            per = max(1, self.batch_size // (1 if sampling.greedy else sampling.n))
            starts = range(0, len(ids), per)
            batches = [
                (idx, derive_seed("batch", sampling.seed, [texts[i] for i in idx]))
                for idx in (list(range(s, min(s + per, len(ids)))) for s in starts)
            ]
        out: list[list[Completion]] = [[] for _ in ids]
        with self._lock, _torch_threads(self.num_threads):
            for idx, seed in batches:
                groups = self._run([ids[i] for i in idx], sampling, seed, top_logprobs)
                for i, group in zip(idx, groups, strict=True):
                    out[i] = group
        return out

    def _run(self, rows, sampling: Sampling, seed: int, top_logprobs: int | None):
        """One left-padded `generate` call; n completions per row."""
        import torch

        draws = 1 if sampling.greedy else sampling.n
        input_ids, attention_mask = left_pad(rows, self.pad_id)
        device = self.model.device
        config = self._config(sampling, draws, want_logits=top_logprobs is not None)
        own, self.model.generation_config = self.model.generation_config, self._ids_only
        # manual_seed seeds every CUDA device: fork (save and restore) all of them
        rng_devices = list(range(torch.cuda.device_count())) if device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=rng_devices), torch.inference_mode():
                torch.manual_seed(seed)
                out = self.model.generate(
                    input_ids=input_ids.to(device),
                    attention_mask=attention_mask.to(device),
                    generation_config=config,
                    tokenizer=self.tokenizer if sampling.stop else None,
                )
        finally:
            self.model.generation_config = own
        generated = out.sequences[:, input_ids.shape[1] :].cpu()  # (B * draws, T)
        logps = None
        if top_logprobs is not None:
            logits = torch.stack(out.logits, dim=1).float()  # (B * draws, T, V)
            logps = torch.log_softmax(logits, dim=-1).cpu()
        completions = [
            self._completion(
                generated[r], None if logps is None else logps[r], sampling, top_logprobs
            )
            for r in range(generated.shape[0])
        ]
        return [
            completions[b * draws : (b + 1) * draws] * (sampling.n if draws == 1 else 1)
            for b in range(len(rows))
        ]

    def _config(self, sampling: Sampling, draws: int, want_logits: bool):
        from transformers import GenerationConfig

        cfg = GenerationConfig(
            bos_token_id=self._ids_only.bos_token_id,
            eos_token_id=self.eos_ids,
            pad_token_id=self.pad_id,
            max_new_tokens=sampling.max_new_tokens,
            num_return_sequences=draws,
            do_sample=not sampling.greedy,
            return_dict_in_generate=True,
            output_logits=want_logits,
            stop_strings=list(sampling.stop) if sampling.stop else None,
        )
        if not sampling.greedy:
            cfg.temperature, cfg.top_p = float(sampling.temperature), float(sampling.top_p)
            cfg.top_k = 0  # transformers' default is 50; OpenAI and vLLM have no top-k
        return cfg

    def _completion(self, row, logps, sampling: Sampling, k: int | None) -> Completion:
        ids = row.tolist()
        end = next((t for t, x in enumerate(ids) if x in self.eos_ids), None)
        if end is not None:
            content, kept = ids[:end], ids[: end + 1]
        else:
            # padding follows only a sample that a stop string ended (a model may also draw the
            # pad token itself: that is a generated token)
            while sampling.stop and ids and ids[-1] == self.pad_id:
                ids.pop()
            content = kept = ids
        text, stopped = truncate_at_stop(
            self.tokenizer.decode(content, skip_special_tokens=True), sampling.stop
        )
        reason = FinishReason.STOP if end is not None or stopped else FinishReason.LENGTH
        token_logps = None
        if logps is not None:
            token_logps = tuple(self._token_logprob(logps[t], tok, k) for t, tok in enumerate(kept))
        return Completion(text, tuple(kept), reason, token_logps)

    def _token_logprob(self, logp, token_id: int, k: int) -> TokenLogprob:
        values, indices = logp.topk(k) if k else (logp[:0], logp[:0].long())
        top = tuple(
            TopLogprob(self.tokenizer.decode([i]), i, v)
            for v, i in zip(values.tolist(), indices.tolist(), strict=True)
        )
        return TokenLogprob(self.tokenizer.decode([token_id]), token_id, float(logp[token_id]), top)

    def close(self) -> None:
        self.model = None
