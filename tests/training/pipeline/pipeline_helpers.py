"""Helpers of the pipeline tests: the tiny recipe shrunk to run in seconds, file readers."""

from __future__ import annotations

import json

from training.config import load_recipe, parse_overrides
from training.stagefile import meta_path

# The tiny recipe at a size that runs the whole pipeline in a few seconds on one CPU core:
# 12 prompts x 6 samples of 12 tokens, groups of 4, 3 optimizer steps of 2 x 2 groups.
SMALL = [
    "--data.limit", "12",
    "--generate.n", "6",
    "--generate.max_new_tokens", "12",
    "--select.k", "4",
    "--ref_logps.batch_size", "4",
    "--train.epochs", "1",
    "--train.batch_size", "2",
    "--train.grad_accum", "2",
]  # fmt: skip
N_PROMPTS, N_SAMPLES, K, STEPS = 12, 6, 4, 3
FILES = ("pools", "scored", "embedded", "groups", "groups.ref")


def small_recipe(run_dir, *extra: str):
    """The shrunk tiny recipe writing under `run_dir`; `extra`: more `--a.b value` overrides."""
    return load_recipe("tiny", {**parse_overrides([*SMALL, *extra]), "run_dir": str(run_dir)})


def read_jsonl(path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def write_jsonl(path, rows) -> str:
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in rows)
    return str(path)


def read_meta(path) -> dict:
    return json.loads(meta_path(path).read_text())
