"""What a trainer test runs on: a groups file with reference log-probs, a recipe, and readers of
what the trainer wrote (metrics rows, checkpoint weights).

Shared by the trainer's tests (against TRL, invariants, distributed, resume, checkpoints), so
every test builds its files one way. Reference log-probs and lengths are computed by plain
torch (`trl_peer.response_logps`: one unpadded forward per response), independent of the
trainer's batching.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml


@dataclass(frozen=True)
class Group:
    """One prompt with its k responses (k may differ between groups)."""

    prompt: str
    responses: tuple[str, ...]
    rewards: tuple[float, ...]
    positive: int = 0


def make_groups(n: int, ks: Sequence[int], seed: int = 0) -> list[Group]:
    """n groups over the tiny tokenizer's words; group i has ks[i % len(ks)] responses of
    different lengths (1 to 12 words), rewards distinct, the best one the positive."""
    from training.tiny import _WORDS

    rng = random.Random(seed)
    words = lambda lo, hi: " ".join(rng.choice(_WORDS) for _ in range(rng.randint(lo, hi)))  # noqa: E731
    groups = []
    for i in range(n):
        k = ks[i % len(ks)]
        responses = tuple(words(1, 12) for _ in range(k))
        rewards = tuple(float(r) for r in rng.sample(range(10), k))
        groups.append(Group(words(3, 8), responses, rewards, rewards.index(max(rewards))))
    return groups


def write_groups(
    path: Path,
    groups: Sequence[Group],
    ref_model_dir: Path | None,
    *,
    strategy: str = "test",
) -> Path:
    """Groups JSONL; with `ref_model_dir`, the reference log-probs (float64) and response lengths
    of every response under our convention, else neither field."""
    from trl_peer import response_logps

    from training.models import ModelSpec, load_model, load_tokenizer

    ref = tok = None
    if ref_model_dir is not None:
        spec = ModelSpec(str(ref_model_dir), dtype="float64", device="cpu")
        ref, tok = load_model(spec), load_tokenizer(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), path.open("w") as f:
        for i, g in enumerate(groups):
            record = {
                "prompt_id": f"p{i}",
                "prompt": g.prompt,
                "responses": list(g.responses),
                "rewards": list(g.rewards),
                "positive": g.positive,
                "strategy": strategy,
            }
            if ref is not None:
                logps, lengths = response_logps(ref, tok, [(g.prompt, r) for r in g.responses])
                record["ref_logps"] = logps.tolist()
                record["lengths"] = [int(n) for n in lengths]
            f.write(json.dumps(record) + "\n")
    return path


# What every test recipe pins unless it says otherwise: one thread (the machine has two busy
# cores), one row of metrics per step, no truncation of the test rows.
TRAIN_DEFAULTS = {"threads": 1, "log_every": 1, "max_length": 512, "seed": 0}


def recipe_dict(model_dir: Path, train: dict, ref_model_dir: Path | None = None) -> dict:
    """A recipe for the model in `model_dir` (fp32 unless train.precision says otherwise)."""
    model = {"name_or_path": str(model_dir), "device": "cpu"}
    recipe = {"name": "test", "model": model, "train": TRAIN_DEFAULTS | train}
    if ref_model_dir is not None:  # the groups file already holds this model's log-probs
        recipe["reference"] = {"name_or_path": str(ref_model_dir), "device": "cpu"}
    return recipe


def write_recipe(
    path: Path, model_dir: Path, train: dict, ref_model_dir: Path | None = None
) -> Path:
    recipe = recipe_dict(model_dir, train, ref_model_dir) | {"run_dir": str(path.parent)}
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def run_trainer(recipe_path: Path, groups: Path, out: Path, resume: bool = False) -> Path:
    """The trainer in this process; returns the final checkpoint folder."""
    from training import trainer
    from training.config import load_recipe

    return trainer.train(load_recipe(str(recipe_path)), groups, out, resume=resume)


def read_metrics(out: Path) -> list[dict]:
    """The rows of `out/metrics.jsonl`, in file order."""
    text = (Path(out) / "metrics.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def trajectory(out: Path, key: str) -> list[float]:
    return [row[key] for row in read_metrics(out)]


def checkpoint_weights(folder: Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint folder's safetensors file(s), float64 for comparison."""
    from safetensors.torch import load_file

    tensors = {}
    for file in sorted(Path(folder).glob("*.safetensors")):
        tensors |= {k: v.to(torch.float64) for k, v in load_file(file).items()}
    assert tensors, f"{folder}: no safetensors"
    return tensors


def max_weight_difference(a: Path, b: Path) -> float:
    """Largest absolute difference between two checkpoints' weights (same names required)."""
    wa, wb = checkpoint_weights(a), checkpoint_weights(b)
    assert wa.keys() == wb.keys(), sorted(wa.keys() ^ wb.keys())
    return max(float((wa[k] - wb[k]).abs().max()) for k in wa)


# -- the trainer in subprocesses: the CLI, under torchrun or accelerate ------------------------

REPO = Path(__file__).resolve().parents[2]


def cli_env() -> dict[str, str]:
    """This process's environment (AMPO_CACHE included), importing this checkout's packages,
    offline, one thread per process."""
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env |= {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return env


def cli_args(recipe: Path, groups: Path, out: Path, resume: bool = False) -> list[str]:
    """`-m training train ...`: the arguments after the interpreter or launcher."""
    args = ["-m", "training", "train", "--config", str(recipe), "--in", str(groups)]
    return [*args, "--out", str(out), *(["--resume"] if resume else [])]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LAUNCHERS = {  # name -> launcher arguments for 2 processes on this machine (before `-m training`)
    "torchrun": lambda: ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"],
    # `--cpu --num_processes 2` would start ONE process (accelerate's multi-CPU launch goes through
    # mpirun); `--multi_gpu` starts them through torch.distributed.run, on CPU too (gloo).
    "accelerate": lambda: [
        *("-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"),
        *("--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"),
        *("--main_process_port", str(free_port())),
    ],
}


def launch(launcher: str, recipe: Path, groups: Path, out: Path, resume: bool = False):
    """Run the train CLI in 2 processes; returns the CompletedProcess (output captured)."""
    import subprocess
    import sys

    cmd = [sys.executable, *LAUNCHERS[launcher](), *cli_args(recipe, groups, out, resume)]
    return subprocess.run(
        cmd, env=cli_env(), capture_output=True, text=True, timeout=300, check=False
    )
