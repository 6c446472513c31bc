"""Stage `generate`: N samples per prompt from the current policy (the recipe's `model`)."""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from training.datasets import is_local_file, read_prompts
from training.generation import Sampling, make_generator
from training.generation.registry import resolve_backend
from training.records import PoolRecord
from training.stagefile import StageOutput
from training.stages.common import chunks, prompt_seed, section

PROMPTS_PER_WRITE = 16  # prompts generated and written together (the unit lost on a crash)


def generate(recipe, inp, out: Path, resume: bool = False) -> Path:
    cfg = recipe.generate
    sampling = Sampling(
        n=cfg.n,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        max_new_tokens=cfg.max_new_tokens,
        seed=cfg.seed,
    )
    prompts = list(read_prompts(inp, recipe.data.split))
    if recipe.data.limit is not None:
        prompts = prompts[: recipe.data.limit]
    config = {
        "model": section(recipe.model),
        "data": section(recipe.data),
        "sampling": section(sampling),
        "backend": cfg.backend,
        "options": dict(cfg.options),
        "runtime": {"batch_size": cfg.batch_size},
    }
    inputs = [inp] if is_local_file(inp) else []
    with StageOutput(
        out, kind="pool", config=config, seed=cfg.seed, inputs=inputs, resume_ignore=("runtime",)
    ) as stage:
        if stage.complete:
            return out
        todo = [p for p in prompts if p.prompt_id not in stage.done_ids]
        if not todo:
            return out
        options = dict(cfg.options)
        if resolve_backend(cfg.backend) == "transformers":
            options.setdefault("batch_size", cfg.batch_size)
        generator = make_generator(cfg.backend, recipe.model, **options)
        try:
            with tqdm(total=len(todo), desc="generate", unit="prompt") as bar:
                for chunk in chunks(todo, PROMPTS_PER_WRITE):
                    seeds = [prompt_seed(cfg.seed, p.prompt_id) for p in chunk]
                    texts = generator.generate([p.prompt for p in chunk], sampling, seeds)
                    stage.count("samples", sum(len(t) for t in texts))  # saved with the write
                    stage.write(
                        [
                            PoolRecord(p.prompt_id, p.prompt, tuple(t))
                            for p, t in zip(chunk, texts, strict=True)
                        ]
                    )
                    bar.update(len(chunk))
        finally:
            generator.close()
    return out
