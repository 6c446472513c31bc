"""Measure a policy on the transform task: sample M responses per held-out prompt and report the
mode distribution and the mean true reward with its standard error.

Sampling goes through the pipeline's generation interface (`training.generation.make_generator`,
transformers backend, temperature 1 unless told), so what is measured is what the pipeline draws.
The standard error treats prompts as the independent units: the M samples of one prompt share
it, so SE = std(per-prompt mean rewards, ddof=1) / sqrt(number of prompts).

    python -m benchmarks.alignment.measure        # train (or load) the default SFT policy, report
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from benchmarks.alignment.task import Mode, make_prompts, mode_of, true_reward


@dataclass(frozen=True)
class PolicyReport:
    """What a policy's samples look like under the true reward."""

    n_prompts: int
    m: int  # samples per prompt
    mode_fractions: dict[str, float]  # Mode value -> fraction of all samples (every Mode listed)
    mode_mean_reward: dict[str, float]  # Mode value -> mean true reward of its samples (seen ones)
    mean_reward: float
    reward_se: float  # standard error over prompts (module docstring)
    seconds: float  # sampling wall time
    responses_per_s: float

    def modes_at_least(self, fraction: float) -> list[str]:
        """Modes holding at least `fraction` of the samples."""
        return [m for m, f in self.mode_fractions.items() if f >= fraction]


def summarise(prompts: list[str], responses: list[list[str]], seconds: float) -> PolicyReport:
    """The report of `responses[i]` (M texts each) for `prompts[i]`."""
    m = len(responses[0])
    rewards = np.array(
        [[true_reward(p, r) for r in rs] for p, rs in zip(prompts, responses, strict=True)]
    )
    modes = [mode_of(p, r).value for p, rs in zip(prompts, responses, strict=True) for r in rs]
    counts = Counter(modes)
    flat = rewards.reshape(-1)
    total = len(modes)
    per_prompt = rewards.mean(axis=1)
    se = float(per_prompt.std(ddof=1) / math.sqrt(len(prompts))) if len(prompts) > 1 else math.nan
    return PolicyReport(
        n_prompts=len(prompts),
        m=m,
        mode_fractions={mode.value: counts[mode.value] / total for mode in Mode},
        mode_mean_reward={
            mode: float(np.mean([r for r, k in zip(flat, modes, strict=True) if k == mode]))
            for mode in counts
        },
        mean_reward=float(flat.mean()),
        reward_se=se,
        seconds=seconds,
        responses_per_s=total / seconds if seconds > 0 else math.inf,
    )


def sample_policy(
    model_path: str | Path,
    prompts: list[str],
    m: int = 16,
    *,
    seed: int = 0,
    temperature: float = 1.0,
    max_new_tokens: int = 24,
    threads: int = 2,
    batch_size: int = 512,
) -> tuple[list[list[str]], float]:
    """(M responses per prompt, wall seconds), drawn by the pipeline's transformers backend."""
    from training.generation import Sampling, make_generator
    from training.models import ModelSpec

    gen = make_generator(
        "transformers",
        ModelSpec(str(model_path), device="cpu", dtype="float32"),
        batch_size=batch_size,
        num_threads=threads,
    )
    sampling = Sampling(n=m, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
    start = time.perf_counter()
    texts = gen.generate(prompts, sampling)
    seconds = time.perf_counter() - start
    gen.close()
    return texts, seconds


def measure_policy(model_path: str | Path, prompts: list[str], m: int = 16, **kw) -> PolicyReport:
    """Sample (`sample_policy`, keywords passed on) and summarise."""
    texts, seconds = sample_policy(model_path, prompts, m, **kw)
    return summarise(prompts, texts, seconds)


def main() -> None:
    from benchmarks.alignment.sft import SFTConfig, sft_policy

    cfg = SFTConfig()
    start = time.perf_counter()
    path = sft_policy(cfg)
    built = time.perf_counter() - start
    stats = json.loads((path / "sft.json").read_text())["stats"]
    report = measure_policy(path, make_prompts(100, seed=1, split="heldout"), m=16)
    print(
        json.dumps(
            {"policy": str(path), "build_s": built, "sft": stats, **asdict(report)}, indent=2
        )
    )


if __name__ == "__main__":
    main()
