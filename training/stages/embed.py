"""Stage `embed`: one vector per response (sentence-transformers, or the policy's hidden states)."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from training.embeddings import make_embedder
from training.stagefile import StageOutput, read_records
from training.stages.common import chunks, section

POOLS_PER_WRITE = 64


def make_stage_embedder(recipe):
    cfg = recipe.embed
    if cfg.backend == "policy":
        spec = section(recipe.model)
        model = spec.pop("name_or_path")
        return make_embedder(
            "policy", model=model, **spec, batch_size=cfg.batch_size, **cfg.options
        )
    return make_embedder(cfg.backend, model=cfg.model, batch_size=cfg.batch_size, **cfg.options)


def embed(recipe, inp, out: Path, resume: bool = False) -> Path:
    cfg = recipe.embed
    config = {"embed": {k: v for k, v in section(cfg).items() if k != "batch_size"}}
    if cfg.backend == "policy":
        config["model"] = section(recipe.model)
    config["runtime"] = {"batch_size": cfg.batch_size}
    total = sum(1 for _ in read_records(inp, "pool"))  # the whole input validated first
    with StageOutput(
        out,
        kind="pool",
        config=config,
        inputs=[inp],
        embeddings="float32",
        resume_ignore=("runtime",),
    ) as stage:
        if stage.complete:
            return out
        done = stage.done_ids
        embedder = make_stage_embedder(recipe)
        pools = (p for p in read_records(inp, "pool") if p.prompt_id not in done)
        with tqdm(total=total, initial=len(done), desc="embed", unit="prompt") as bar:
            for chunk in chunks(pools, POOLS_PER_WRITE):
                prompts = [p.prompt for p in chunk for _ in p.responses]
                responses = [r for p in chunk for r in p.responses]
                vectors = np.asarray(embedder.embed(prompts, responses), dtype=np.float32)
                bounds = np.cumsum([0, *(len(p.responses) for p in chunk)])
                stage.write(chunk, embeddings=[vectors[a:b] for a, b in pairwise(bounds)])
                bar.update(len(chunk))
    return out
