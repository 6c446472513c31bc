"""How each benchmark's answers are decoded: named AlpacaEval presets, MT-bench's own rule.

AlpacaEval 2 prescribes no decoding; each model's config in alpaca_eval's `models_configs` sets
its own. The presets below are the common ones, each with its source, and every run records the
values it used. MT-bench fixes them per category (`evaluation.data.mtbench.sampling_for`:
FastChat's `temperature_config`, 1024 new tokens, greedy below 1e-4).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from types import MappingProxyType

from evaluation.data.mtbench import GREEDY_BELOW, MAX_NEW_TOKENS, sampling_for
from training.generation import Sampling


@dataclass(frozen=True)
class Decoding:
    temperature: float
    top_p: float
    max_new_tokens: int
    source: str

    def sampling(self, seed: int) -> Sampling:
        return Sampling(
            n=1,
            temperature=self.temperature,
            top_p=self.top_p,
            max_new_tokens=self.max_new_tokens,
            seed=seed,
        )

    def to_dict(self) -> dict:
        return asdict(self)


ALPACA_EVAL_PRESETS = MappingProxyType(
    {
        "alpaca_eval": Decoding(
            0.7,
            1.0,
            2048,
            "the most common setting of alpaca_eval 0.6.6 models_configs "
            "(temperature 0.7 in 119 of 234 configs, max_new_tokens 2048 in 88)",
        ),
        "simpo-llama3-instruct": Decoding(
            0.9,
            1.0,
            4096,
            "SimPO eval/alpacaeval2/configs/Llama-3-Instruct-8B-SimPO.yaml (the AMPO setting's base)",
        ),
        "simpo-mistral-instruct": Decoding(
            0.5,
            1.0,
            2048,
            "SimPO eval/alpacaeval2/configs/Mistral-7B-Instruct-SimPO.yaml",
        ),
        "greedy": Decoding(0.0, 1.0, 2048, "greedy decoding, 2048 new tokens"),
    }
)
DEFAULT_PRESET = "alpaca_eval"


def alpaca_eval_decoding(preset: str = DEFAULT_PRESET, **override) -> Decoding:
    """A preset, with any of temperature / top_p / max_new_tokens overridden (None: keep)."""
    if preset not in ALPACA_EVAL_PRESETS:
        raise ValueError(
            f"alpaca_eval: unknown decoding preset {preset!r} "
            f"(known: {', '.join(ALPACA_EVAL_PRESETS)})"
        )
    base = ALPACA_EVAL_PRESETS[preset]
    changed = {k: v for k, v in override.items() if v is not None}
    if not changed:
        return base
    values = {**asdict(base), **changed}
    values["source"] = f"preset {preset!r} with {', '.join(f'{k}={v}' for k, v in changed.items())}"
    return Decoding(**values)


def mt_bench_sampling(category: str, seed: int, max_new_tokens: int = MAX_NEW_TOKENS) -> Sampling:
    """FastChat's decoding for a question of `category` (greedy below GREEDY_BELOW)."""
    rule = sampling_for(category)
    temperature = 0.0 if rule.temperature < GREEDY_BELOW else rule.temperature
    return Sampling(n=1, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
