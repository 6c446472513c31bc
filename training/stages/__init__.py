"""The pipeline's stages behind one registry: name -> (function, default input, default output).

Each stage reads one file and writes one under the recipe's `run_dir` (or --in/--out), through
`training.stagefile.StageOutput`: resumable, validated, atomic, with a `.meta.json` beside it.

    prompts -generate-> pools.jsonl -score-> scored.jsonl -embed-> embedded.jsonl (+ .emb.npy)
      -select-> groups.jsonl -ref-logps-> groups.ref.jsonl -train-> train/checkpoints/step-N/
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from training.config import Recipe
from training.stages.embed import embed
from training.stages.generate import generate
from training.stages.ref_logps import ref_logps
from training.stages.score import score
from training.stages.select import select_groups
from training.stages.train import train_stage


@dataclass(frozen=True)
class Stage:
    fn: Callable[[Recipe, Path, Path, bool], Path]
    default_in: str | None  # a file under run_dir; None: the recipe's data.prompts
    default_out: str


STAGES: dict[str, Stage] = {
    "generate": Stage(generate, None, "pools.jsonl"),
    "score": Stage(score, "pools.jsonl", "scored.jsonl"),
    "embed": Stage(embed, "scored.jsonl", "embedded.jsonl"),
    "select": Stage(select_groups, "embedded.jsonl", "groups.jsonl"),
    "ref-logps": Stage(ref_logps, "groups.jsonl", "groups.ref.jsonl"),
    "train": Stage(train_stage, "groups.ref.jsonl", "train"),
}


def run_stage(name: str, recipe: Recipe, inp=None, out=None, resume: bool = False) -> Path:
    """Run stage `name` of `recipe`; returns what it wrote (a file, or the final checkpoint)."""
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}; valid: {', '.join(STAGES)}")
    stage = STAGES[name]
    run_dir = Path(recipe.run_dir)
    if inp is None:
        inp = recipe.data.prompts if stage.default_in is None else run_dir / stage.default_in
    if not inp:
        raise ValueError(f"{name}: no input (set data.prompts in the recipe or pass --in)")
    out = Path(out) if out is not None else run_dir / stage.default_out
    return stage.fn(recipe, inp, out, resume)
