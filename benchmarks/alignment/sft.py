"""The reference policy: a tiny Llama fine-tuned (SFT) on noisy demonstrations of the transform task.

Demonstrations are drawn from a mixture of response modes (`SFTConfig.mixture`, default 50% right
answers, 20% copies of the input, 15% answers missing their last item, 15% format errors), fresh
for every example, so the policy learns to sample several modes for the same prompt: the spread
that on-policy preference optimisation has to sharpen.

The model and tokenizer come from `training.tiny` (a `LlamaConfig` model, a byte-level BPE
tokenizer trained here on the task's text, the ChatML template); the loss is cross-entropy on the
response tokens only, prompt and response split by `training.chat.encode_pair` (the convention of
generation, reference log-probs and training), so the pipeline's log-probs are over exactly the
tokens trained here. The result is an HF folder (`save_pretrained`) that
`training.models.load_model(ModelSpec(path))` loads, cached under `training.models.cache_dir()`
by a hash of the config: a second call with the same config returns at once.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from benchmarks.alignment.task import CANONICAL_MODES, WORDS, Mode, make_prompts, render
from training.chat import encode_pair
from training.tiny import TinyConfig, build_model, save_model_folder, train_tokenizer

IGNORE = -100  # label of a token the loss skips (prompt and padding)

DEFAULT_MIXTURE = (
    (Mode.CORRECT.value, 0.5),
    (Mode.COPY.value, 0.2),
    (Mode.DROP_LAST.value, 0.15),
    (Mode.FORMAT.value, 0.15),
)

# ~0.17M parameters: 2 layers of width 64. Each item is already one token (the BPE trained on the
# task text keeps " 7", " cat", " CAT" whole), so the bottleneck is optimiser steps, not capacity:
# 4 layers of width 128 at 400 steps sampled ~60% malformed answers (mixed-up items, reverse barely
# learned); 2 layers of width 64 cost ~1/3 as much per step and at 1400 steps (~55 s, 1 thread)
# sample the demonstrated modes in about their mixture proportions, ~10% "other".
POLICY_SHAPE = TinyConfig(
    vocab_size=512,
    hidden_size=64,
    intermediate_size=256,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=128,
)


@dataclass(frozen=True)
class SFTConfig:
    """Everything that determines the SFT policy (its hash is the cache key)."""

    shape: TinyConfig = POLICY_SHAPE
    mixture: tuple[tuple[str, float], ...] = DEFAULT_MIXTURE  # (mode, weight) of demonstrations
    n_prompts: int = 3000  # distinct train-split prompts demonstrations are drawn for
    steps: int = 1400  # optimiser steps (batch_size fresh demonstrations each)
    batch_size: int = 64  # demonstrations per step
    lr: float = 3e-3  # AdamW peak learning rate (linear warmup, cosine decay to 10%)
    warmup_steps: int = 20
    weight_decay: float = 0.0
    threads: int = 1  # torch CPU threads during training (2 oversubscribe a busy 2-core machine)
    seed: int = 0

    def __post_init__(self):
        modes = [m for m, _ in self.mixture]
        unknown = sorted(set(modes) - {m.value for m in CANONICAL_MODES})
        if unknown:
            raise ValueError(
                f"sft: mixture mode {unknown[0]!r} not one of "
                + ", ".join(m.value for m in CANONICAL_MODES)
            )
        if any(w < 0 for _, w in self.mixture) or sum(w for _, w in self.mixture) <= 0:
            raise ValueError("sft: mixture weights must be >= 0 with a positive sum")
        for name in ("n_prompts", "steps", "batch_size", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"sft: {name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"sft: lr must be > 0, got {self.lr}")

    def key(self) -> str:
        """A short hash of the config: the cache folder name of this policy."""
        blob = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def task_corpus(prompts: list[str]) -> list[str]:
    """Text the tokenizer is trained on: the prompts, every mode's answer, the template's roles."""
    lines = list(prompts)
    lines += [render(p, m) for p in prompts for m in CANONICAL_MODES]
    lines += [" ".join(WORDS), " ".join(w.upper() for w in WORDS), "user assistant system"]
    return lines


def supervised_example(tokenizer, prompt: str, response: str) -> tuple[list[int], list[int]]:
    """(input ids, labels) of one demonstration: labels are IGNORE on the prompt's tokens and the
    token ids on the response's (answer and end-of-turn), as `encode_pair` splits them."""
    prompt_ids, response_ids = encode_pair(tokenizer, prompt, response)
    return prompt_ids + response_ids, [IGNORE] * len(prompt_ids) + response_ids


def collate(examples: list[tuple[list[int], list[int]]], pad_id: int):
    """Right-padded (input_ids, attention_mask, labels), each (B, L)."""
    import torch

    width = max(len(ids) for ids, _ in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    for b, (row, lab) in enumerate(examples):
        ids[b, : len(row)] = torch.tensor(row)
        mask[b, : len(row)] = 1
        labels[b, : len(lab)] = torch.tensor(lab)
    return ids, mask, labels


def response_loss(logits, labels):
    """Mean next-token cross-entropy over the tokens whose label is not IGNORE.
    logits (B, L, V) predict position t+1 from t; labels (B, L)."""
    import torch.nn.functional as F

    return F.cross_entropy(
        logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1), ignore_index=IGNORE
    )


def lr_factor(step: int, cfg: SFTConfig) -> float:
    """Linear warmup to 1, then cosine decay to 0.1 at the last step."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def train_sft(cfg: SFTConfig):
    """(model, tokenizer, stats): the SFT policy of `cfg`, trained in this process."""
    import torch

    # ---- data: train prompts, tokenizer, demonstration sampler ----
    prompts = make_prompts(cfg.n_prompts, seed=cfg.seed, split="train")
    tokenizer = train_tokenizer(task_corpus(prompts), cfg.shape.vocab_size)
    modes = [m for m, _ in cfg.mixture]
    weights = [w for _, w in cfg.mixture]
    rng = random.Random(f"sft-demos/{cfg.seed}")

    @cache
    def example(prompt: str, mode: str):
        return supervised_example(tokenizer, prompt, render(prompt, mode))

    # ---- model and optimiser ----
    model = build_model(cfg.shape, tokenizer)
    opt = torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=cfg.weight_decay
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg))

    threads_before = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    losses: list[float] = []
    start = time.perf_counter()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            model.train()
            for _ in range(cfg.steps):
                # ---- one step: fresh demonstrations, response-only cross-entropy, clip, step ----
                batch = [
                    example(rng.choice(prompts), rng.choices(modes, weights)[0])
                    for _ in range(cfg.batch_size)
                ]
                ids, mask, labels = collate(batch, tokenizer.pad_token_id)
                logits = model(input_ids=ids, attention_mask=mask).logits  # (B, L, V)
                loss = response_loss(logits, labels)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                losses.append(loss.item())
    finally:
        torch.set_num_threads(threads_before)
    model.eval()
    stats = {
        "seconds": time.perf_counter() - start,
        "threads": cfg.threads,
        "parameters": sum(p.numel() for p in model.parameters()),
        "loss_first": losses[0],
        "loss_last10": sum(losses[-10:]) / len(losses[-10:]),
    }
    return model, tokenizer, stats


def sft_policy(cfg: SFTConfig = SFTConfig(), cache: str | Path | None = None) -> Path:
    """The folder of the SFT policy `cfg` under `cache` (default `training.models.cache_dir()`),
    trained and written on first use. `sft.json` in it holds the config and training stats."""
    from training.models import cache_dir

    path = Path(cache if cache is not None else cache_dir()) / f"transform-sft-{cfg.key()}"
    if (path / "config.json").exists() and (path / "sft.json").exists():
        return path
    model, tokenizer, stats = train_sft(cfg)
    meta = {"config": asdict(cfg), "stats": stats}
    return save_model_folder(path, model, tokenizer, {"sft.json": meta})
