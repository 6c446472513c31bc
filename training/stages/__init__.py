"""The pipeline's stages behind one registry: name -> (function, default input, default output).

Each stage reads one file and writes one under the recipe's `run_dir` (or --in/--out), through
`training.stagefile.StageOutput`: resumable, validated, atomic, with a `.meta.json` beside it.

    prompts -generate-> pools.jsonl -score-> scored.jsonl -embed-> embedded.jsonl (+ .emb.npy)
      -select-> groups.jsonl -ref-logps-> groups.ref.jsonl -train-> train/checkpoints/step-N/

`convert` starts the pipeline from a released dataset instead (`training.stages.convert`):
AMPO pools -> scored.jsonl, AMPO selections or UltraFeedback pairs -> groups.jsonl.
`check_recipe` checks the names and options a list of stages will use (strategy, loss, backends)
before the first of them runs, so a typo in the last stage does not cost the first ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from training.config import Recipe
from training.stages.convert import check_convert_config, convert, convert_output
from training.stages.embed import embed
from training.stages.generate import generate
from training.stages.ref_logps import ref_logps
from training.stages.score import score
from training.stages.select import check_select_config, select_groups
from training.stages.train import train_stage


def _in_run_dir(name: str) -> Callable[[Recipe], Path]:
    return lambda recipe: Path(recipe.run_dir) / name


@dataclass(frozen=True)
class Stage:
    fn: Callable[[Recipe, Path, Path, bool], Path]
    default_in: Callable[[Recipe], str | Path]  # the input when --in is not given
    default_out: Callable[[Recipe], str | Path]  # the output when --out is not given


STAGES: dict[str, Stage] = {
    "generate": Stage(generate, lambda r: r.data.prompts, _in_run_dir("pools.jsonl")),
    "score": Stage(score, _in_run_dir("pools.jsonl"), _in_run_dir("scored.jsonl")),
    "embed": Stage(embed, _in_run_dir("scored.jsonl"), _in_run_dir("embedded.jsonl")),
    "select": Stage(select_groups, _in_run_dir("embedded.jsonl"), _in_run_dir("groups.jsonl")),
    "ref-logps": Stage(ref_logps, _in_run_dir("groups.jsonl"), _in_run_dir("groups.ref.jsonl")),
    "train": Stage(train_stage, _in_run_dir("groups.ref.jsonl"), _in_run_dir("train")),
    "convert": Stage(
        convert,
        lambda r: r.convert.source,
        lambda r: Path(r.run_dir) / convert_output(r),
    ),
}
PIPELINE = ("generate", "score", "embed", "select", "ref-logps", "train")


def _checked(key: str, check: Callable[[], object]) -> None:
    try:
        check()
    except (TypeError, ValueError) as err:
        raise ValueError(f"recipe {key}: {err}") from None


def _check_scorer(cfg) -> None:
    from training.rewards import SCORERS, get_reward_function

    if cfg.backend not in SCORERS:
        raise ValueError(f"unknown backend {cfg.backend!r}; valid: {', '.join(SCORERS)}")
    if cfg.backend == "function":
        get_reward_function(cfg.model)


def check_recipe(recipe: Recipe, names) -> None:
    """A ValueError naming the recipe key of the first unknown name or bad option that stages
    `names` would meet (generation backend, reward function, strategy, loss, convert format)."""
    from training.generation.registry import resolve_backend
    from training.losses import get_loss

    for name in names:
        if name not in STAGES:
            raise ValueError(f"unknown stage {name!r}; valid: {', '.join(STAGES)}")
    if "generate" in names:
        _checked("generate.backend", lambda: resolve_backend(recipe.generate.backend))
    if "score" in names:
        _checked("score", lambda: _check_scorer(recipe.score))
    if "select" in names:
        check_select_config(recipe.select)
    if "train" in names:
        cfg = recipe.train
        _checked("train.loss", lambda: get_loss(cfg.loss).config(**cfg.loss_options))
    if "convert" in names:
        check_convert_config(recipe.convert)


def run_stage(name: str, recipe: Recipe, inp=None, out=None, resume: bool = False) -> Path:
    """Run stage `name` of `recipe`; returns what it wrote (a file, or the final checkpoint)."""
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}; valid: {', '.join(STAGES)}")
    stage = STAGES[name]
    if inp is None:
        inp = stage.default_in(recipe)
    if not inp:
        where = "convert.source" if name == "convert" else "data.prompts"
        raise ValueError(f"{name}: no input (set {where} in the recipe or pass --in)")
    out = Path(out) if out is not None else Path(stage.default_out(recipe))
    return stage.fn(recipe, inp, out, resume)
