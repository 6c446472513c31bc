"""Stage `train`: the trainer on the groups file (`training.trainer.train`)."""

from __future__ import annotations

from pathlib import Path


def train_stage(recipe, inp, out: Path, resume: bool = False) -> Path:
    from training.trainer import train

    return train(recipe, inp, out, resume=resume)
