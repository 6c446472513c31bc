"""Stage `convert`: a released preference dataset as a pipeline file, to start the pipeline there.

    python -m training convert --from ampo-pools    --in AMPO-Coreset-selection.parquet
        -> run_dir/scored.jsonl (pools with rewards): then `embed`, `select`, `ref-logps`, `train`
    python -m training convert --from ampo-groups   --in AMPO-Coreset-selection.jsonl
        -> run_dir/groups.jsonl (the released A0..A7 as groups of 8): then `ref-logps`, `train`
    python -m training convert --from ultrafeedback --in ultrafeedback_binarized.parquet
        -> run_dir/groups.jsonl (chosen/rejected as groups of 2 with their scores, which MMPO's
           soft target reads): then `ref-logps`, `train`

`--from X` is `--convert.format X`; the input is `--in` or `convert.source` (a local file or a
hub dataset name, read with `convert.split`). The readers are `training.datasets`': every row is
validated and a bad one raises one error naming the file, line or row, prompt_id and column. A
reward-only selection strategy (bottom_k, best_worst, ...) can run on converted pools directly,
without the embed stage. Written through `StageOutput`, so it resumes and refuses to mix runs.
"""

from __future__ import annotations

from itertools import islice
from pathlib import Path

from training.datasets import (
    is_local_file,
    read_ampo_groups,
    read_ampo_pools,
    read_ultrafeedback,
)
from training.stagefile import StageOutput
from training.stages.common import chunks, section

RECORDS_PER_WRITE = 1024

# format -> (reader, record kind, default output under run_dir: the next stages' default input)
FORMATS = {
    "ampo-pools": (read_ampo_pools, "pool", "scored.jsonl"),
    "ampo-groups": (read_ampo_groups, "group", "groups.jsonl"),
    "ultrafeedback": (read_ultrafeedback, "group", "groups.jsonl"),
}


def check_convert_config(cfg) -> None:
    if cfg.format not in FORMATS:
        what = "is not set" if not cfg.format else f"{cfg.format!r} is unknown"
        raise ValueError(
            f"recipe convert.format {what} (--from FORMAT); valid: {', '.join(FORMATS)}"
        )


def convert_output(recipe) -> str:
    """The default output file of `convert` under run_dir, by format."""
    check_convert_config(recipe.convert)
    return FORMATS[recipe.convert.format][2]


def convert(recipe, inp, out: Path, resume: bool = False) -> Path:
    cfg = recipe.convert
    check_convert_config(cfg)
    reader, kind, _ = FORMATS[cfg.format]

    def records():
        rows = reader(inp, cfg.split)
        return rows if cfg.limit is None else islice(rows, cfg.limit)

    for _ in records():  # every row validated before anything is written
        pass
    config = {"convert": {k: v for k, v in section(cfg).items() if k != "source"}}
    inputs = [inp] if is_local_file(inp) else [f"{inp} [{cfg.split}]"]
    with StageOutput(out, kind=kind, config=config, inputs=inputs) as stage:
        if stage.complete:
            return out
        done = stage.done_ids
        for chunk in chunks((r for r in records() if r.prompt_id not in done), RECORDS_PER_WRITE):
            stage.write(chunk)
    return out
