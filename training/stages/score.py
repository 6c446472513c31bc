"""Stage `score`: a reward for every response (a reward model or a registered function)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from tqdm.auto import tqdm

from training.records import RecordError
from training.rewards import RewardValueError, make_scorer
from training.stagefile import StageOutput, read_records
from training.stages.common import chunks, section

POOLS_PER_WRITE = 64


def make_stage_scorer(cfg):
    if cfg.backend == "function":
        return make_scorer("function", name=cfg.model, **cfg.options)
    return make_scorer(
        cfg.backend,
        model=cfg.model,
        batch_size=cfg.batch_size,
        max_length=cfg.max_length,
        **cfg.options,
    )


def score(recipe, inp, out: Path, resume: bool = False) -> Path:
    cfg = recipe.score
    config = {"score": {k: v for k, v in section(cfg).items() if k != "batch_size"}}
    config["runtime"] = {"batch_size": cfg.batch_size}
    total = sum(1 for _ in read_records(inp, "pool"))  # the whole input validated first
    with StageOutput(
        out, kind="pool", config=config, seed=None, inputs=[inp], resume_ignore=("runtime",)
    ) as stage:
        if stage.complete:
            return out
        done = stage.done_ids
        scorer = make_stage_scorer(cfg)
        pools = (p for p in read_records(inp, "pool") if p.prompt_id not in done)
        with tqdm(total=total, initial=len(done), desc="score", unit="prompt") as bar:
            for chunk in chunks(pools, POOLS_PER_WRITE):
                prompts = [p.prompt for p in chunk for _ in p.responses]
                responses = [r for p in chunk for r in p.responses]
                try:
                    rewards = scorer.score(prompts, responses)  # (sum of N,)
                except RewardValueError as err:
                    pool, j = _locate(chunk, err.index)
                    raise RecordError(
                        f"response {j}: {err.problem}",
                        field="rewards",
                        prompt_id=pool.prompt_id,
                        file=inp,
                    ) from None
                scored, at = [], 0
                for pool in chunk:
                    values = [float(x) for x in rewards[at : at + len(pool.responses)]]
                    at += len(pool.responses)
                    bad = [i for i, v in enumerate(values) if not math.isfinite(v)]
                    if bad:
                        raise RecordError(
                            f"response {bad[0]}: the scorer returned {values[bad[0]]}",
                            field="rewards",
                            prompt_id=pool.prompt_id,
                            file=inp,
                        )
                    scored.append(replace(pool, rewards=tuple(values)))
                stage.write(scored)
                bar.update(len(chunk))
    return out


def _locate(chunk, index: int):
    """(pool, response index within it) of the `index`-th of a chunk's flat pairs."""
    for pool in chunk:
        if index < len(pool.responses):
            return pool, index
        index -= len(pool.responses)
    raise IndexError(index)
