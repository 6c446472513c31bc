"""Checkpoints: a Hugging Face model folder plus the training state, written atomically.

Layout of `<out>/checkpoints/step-000120/`: the `save_pretrained` files (safetensors, config,
generation config, tokenizer), so the folder loads unchanged with
`AutoModelForCausalLM.from_pretrained` (and in vLLM and the evaluation harness), plus
`trainer_state.pt` (optimizer, scheduler, RNG states, step, resolved config). The folder is
written under a temporary name and renamed; `<out>/checkpoints/latest` (written atomically)
names the newest complete one. Model and optimizer states go through
`torch.distributed.checkpoint.state_dict`, so one process, DDP and FSDP2 save the same full
(unsharded) files.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_optimizer_state_dict,
)

from selection.provenance import atomic_write_bytes
from training.distributed import Dist, barrier

STATE_FILE = "trainer_state.pt"
ENGINE_PREFIX = "policy."  # the HF model's place inside the trained module
LATEST = "latest"


def step_dir(out: Path, step: int) -> Path:
    return Path(out) / "checkpoints" / f"step-{step:06d}"


def rng_state() -> dict:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),  # noqa: NPY002 (the legacy global state is what we save)
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(
    out, step: int, engine, policy, tokenizer, optimizer, scheduler, extra: dict, d: Dist
) -> Path:
    """Write checkpoint `step` (a collective under torch.distributed: call on every process).

    engine: the trained module as wrapped (DDP/FSDP2), whose parameters the optimizer holds;
    policy: the Hugging Face model inside it, `engine_prefix` deep."""
    full = StateDictOptions(full_state_dict=True, cpu_offload=True)
    model_sd = get_model_state_dict(engine, options=full)
    model_sd = {k.removeprefix(ENGINE_PREFIX): v for k, v in model_sd.items()}
    optim_sd = get_optimizer_state_dict(engine, optimizer, options=full)
    target = step_dir(out, step)
    if d.is_main:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".{target.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            policy.save_pretrained(tmp, state_dict=model_sd, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
            state = {
                "step": step,
                "optimizer": optim_sd,
                "scheduler": scheduler.state_dict(),
                "rng": rng_state(),
                **extra,
            }
            torch.save(state, tmp / STATE_FILE)
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        atomic_write_bytes(target.parent / LATEST, (target.name + "\n").encode())
    barrier()
    return target


def latest(out) -> Path | None:
    """The newest complete checkpoint folder under `out`, or None."""
    pointer = Path(out) / "checkpoints" / LATEST
    if not pointer.exists():
        return None
    path = pointer.parent / pointer.read_text().strip()
    return path if (path / STATE_FILE).exists() else None


def load_state(path: Path) -> dict:
    return torch.load(Path(path) / STATE_FILE, map_location="cpu", weights_only=False)


def restore(state: dict, engine, optimizer, scheduler) -> None:
    """Load optimizer, scheduler and RNG states (the weights come with from_pretrained)."""
    set_optimizer_state_dict(
        engine,
        optimizer,
        optim_state_dict=state["optimizer"],
        options=StateDictOptions(full_state_dict=True),
    )
    scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
