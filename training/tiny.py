"""A tiny Llama-shaped causal LM and a byte-level BPE tokenizer trained locally.

What the tests, the `tiny` recipe and the CPU benchmarks run on: no network, no hub. The model is
random-initialised from a `LlamaConfig`; the tokenizer is trained with the `tokenizers` package on
a small built-in corpus (plus any text given), has a ChatML chat template like SmolLM2's, and
byte-level pre-tokenisation, so every string tokenises (no unknown token). Both are written with
`save_pretrained` and read back by the ordinary loading code (`training.models`), so the tiny path
exercises exactly what a real checkpoint goes through.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

BOS, EOS, PAD = "<|begin_of_text|>", "<|im_end|>", "<|pad|>"
IM_START = "<|im_start|>"
SPECIAL_TOKENS = (PAD, BOS, IM_START, EOS)

# ChatML, as SmolLM2-Instruct uses it (the assistant turn ends with <|im_end|>, the EOS token).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_WORDS = (
    "the a an of to and in is it that for on with as was by at be this are from or have not "
    "answer question explain write list give short long word words sentence number numbers "
    "sort reverse count letters first last upper lower case format yes no true false because "
    "example step steps result final please one two three four five six seven eight nine ten "
    "red green blue cat dog tree river city house water light time day night good bad best worst "
    "user assistant system hello thanks sure here is what why how when where which who"
).split()


def builtin_corpus(lines: int = 400, seed: int = 0) -> list[str]:
    """Deterministic pseudo-sentences over a fixed word list, digits and punctuation."""
    import random

    rng = random.Random(seed)
    out = []
    for _ in range(lines):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(3, 14))]
        words.insert(rng.randint(0, len(words)), str(rng.randint(0, 999)))
        out.append(" ".join(words) + rng.choice([".", "?", "!", ":", ","]))
    return out


@dataclass(frozen=True)
class TinyConfig:
    """Shape of the tiny model and tokenizer (defaults: ~0.2M parameters, trains in ms per step)."""

    vocab_size: int = 512  # BPE vocabulary, special and byte tokens included
    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 1024
    tie_word_embeddings: bool = False
    seed: int = 0

    def key(self) -> str:
        """A short hash of the config: the cache folder name of this model."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def train_tokenizer(corpus: Iterable[str], vocab_size: int = 512):
    """A byte-level BPE `PreTrainedTokenizerFast` trained on `corpus`, ChatML template, pad set."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(corpus), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        chat_template=CHAT_TEMPLATE,
        model_max_length=1024,
    )


MODEL_KINDS = ("causal_lm", "reward")


def build_model(cfg: TinyConfig, tokenizer, dtype=None, kind: str = "causal_lm"):
    """A random-initialised `LlamaForCausalLM` (kind="causal_lm") or one-label
    `LlamaForSequenceClassification` (kind="reward", a reward model) of shape `cfg` for
    `tokenizer` (seeded)."""
    import torch
    from transformers import (
        GenerationConfig,
        LlamaConfig,
        LlamaForCausalLM,
        LlamaForSequenceClassification,
    )

    if kind not in MODEL_KINDS:
        raise ValueError(f"tiny model kind {kind!r} not one of {', '.join(MODEL_KINDS)}")
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_key_value_heads,
        max_position_embeddings=cfg.max_position_embeddings,
        tie_word_embeddings=cfg.tie_word_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **({"num_labels": 1} if kind == "reward" else {}),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        if kind == "reward":
            model = LlamaForSequenceClassification(config)
            return model.to(dtype) if dtype is not None else model
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=True,
        temperature=1.0,
        top_p=1.0,
        max_new_tokens=32,
    )
    return model.to(dtype) if dtype is not None else model


def write_tiny_model(
    out: str | Path, cfg: TinyConfig = TinyConfig(), corpus=None, kind: str = "causal_lm"
) -> Path:
    """Train the tokenizer, build the model (`kind`, see `build_model`) and `save_pretrained`
    both into `out` (atomically: a temporary sibling folder renamed into place). Returns `out`."""
    text = builtin_corpus(seed=cfg.seed) + list(corpus or [])
    tokenizer = train_tokenizer(text, cfg.vocab_size)
    model = build_model(cfg, tokenizer, kind=kind)
    return save_model_folder(out, model, tokenizer, {"tiny_config.json": asdict(cfg)})


def save_model_folder(out: str | Path, model, tokenizer, extra_json: dict[str, dict]) -> Path:
    """`save_pretrained` model and tokenizer into `out`, plus one JSON file per `extra_json` item
    (file name -> content), atomically: a temporary sibling folder renamed into place."""
    import os
    import shutil
    import tempfile

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        for name, content in extra_json.items():
            (tmp / name).write_text(json.dumps(content, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def cached_tiny_model(cache_dir: str | Path, cfg: TinyConfig = TinyConfig()) -> Path:
    """The folder of the tiny model `cfg` under `cache_dir`, written on first use."""
    path = Path(cache_dir) / f"tiny-llama-{cfg.key()}"
    if not (path / "config.json").exists():
        write_tiny_model(path, cfg)
    return path
