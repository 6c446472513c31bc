"""`python -m training STAGE --config RECIPE [--in PATH] [--out PATH] [--resume] [--a.b value ...]`

Stages (each reads one file and writes one, under the recipe's run_dir unless --in/--out say
otherwise): generate, score, embed, select, ref-logps, train; `pipeline` runs them in order.
`convert --from ampo-pools|ampo-groups|ultrafeedback --in SOURCE` starts from a released dataset
instead (`training.stages.convert`). Names and options are checked before the first stage runs.
`--config` takes a recipe file or the name of a shipped recipe (`python -m training recipes`
lists them); `--section.key value` overrides any field of the resolved recipe.
"""

from __future__ import annotations

import argparse
import sys

from training.config import load_recipe, parse_overrides, recipe_names
from training.stages import PIPELINE, STAGES, check_recipe, run_stage
from training.stages.convert import FORMATS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__.split("\n")[0])
    parser.add_argument("stage", choices=[*STAGES, "pipeline", "recipes"])
    parser.add_argument("--config", default="tiny", help="recipe file or shipped recipe name")
    parser.add_argument("--in", dest="inp", default=None, help="input file (default: run_dir)")
    parser.add_argument("--out", default=None, help="output file or folder (default: run_dir)")
    parser.add_argument("--resume", action="store_true", help="train: continue from a checkpoint")
    parser.add_argument(
        "--from", dest="fmt", choices=list(FORMATS), help="convert: the source's format"
    )
    args, rest = parser.parse_known_args(argv)
    if args.stage == "recipes":
        print("\n".join(recipe_names()))
        return 0
    if args.fmt is not None and args.stage != "convert":
        parser.error("--from is the convert stage's (the format of its source)")
    overrides = parse_overrides(rest)
    if args.fmt is not None:
        overrides.setdefault("convert", {})["format"] = args.fmt
    recipe = load_recipe(args.config, overrides)
    stages = list(PIPELINE) if args.stage == "pipeline" else [args.stage]
    if args.stage == "pipeline" and (args.inp or args.out):
        parser.error("--in/--out name one stage's files; the pipeline uses the run_dir")
    check_recipe(recipe, stages)
    for name in stages:
        path = run_stage(name, recipe, inp=args.inp, out=args.out, resume=args.resume)
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
