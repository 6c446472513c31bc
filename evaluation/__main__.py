"""`python -m evaluation {generate,judge,report,eval}`: AlpacaEval 2 and MT-bench on a checkpoint.

    generate  --model CKPT [--bench alpaca_eval|mt_bench|all] [--run NAME]   answers
    judge     --run NAME [--judge openai|transformers] [--judge-model M]      judgments
    report    [--results DIR]            every metrics.json + results/leaderboard.{md,csv}
    eval      --model CKPT ...           generate, judge, report (what `make eval` runs)

Data: `--alpaca-eval PATH` (alpaca_eval_gpt4_baseline.json or its folder; omitted: downloaded),
`--mt-bench DIR` (FastChat's data/mt_bench). Judge keys come only from the environment
(`--judge-api-key-env`, default OPENAI_API_KEY). See the README's evaluation section.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evaluation import steps
from evaluation.benches import ALL, BENCHES, JUDGE_DEFAULTS, Answering, Judging, resolve_benches
from evaluation.decoding import ALPACA_EVAL_PRESETS
from evaluation.runs import GENERATION, RESULTS, RunDir, check_run_name, default_run_name

# generation flag -> (the backend option it sets, its type); each backend accepts its own subset
GENERATOR_FLAGS = {
    "base_url": ("base_url", str),
    "served_model": ("model", str),
    "api_key_env": ("api_key_env", str),
    "concurrency": ("concurrency", int),
    "batch_size": ("batch_size", int),
    "num_threads": ("num_threads", int),
    "tensor_parallel_size": ("tensor_parallel_size", int),
    "gpu_memory_utilization": ("gpu_memory_utilization", float),
    "max_model_len": ("max_model_len", int),
}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--results", type=Path, default=RESULTS, help="results folder (default: results)"
    )
    p.add_argument("--bench", default=ALL, choices=[*BENCHES, ALL])
    p.add_argument("--run", default=None, help="run name (default: the model's last path part)")
    p.add_argument("--alpaca-eval", default=None, help="alpaca_eval_gpt4_baseline.json or folder")
    p.add_argument("--mt-bench", default=None, help="FastChat data/mt_bench folder")


def _generation_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("generation")
    g.add_argument("--model", required=True, help="checkpoint folder, hub name or builtin:NAME")
    g.add_argument("--gguf-file", default=None)
    g.add_argument("--dtype", default="auto")
    g.add_argument("--device", default="auto")
    g.add_argument(
        "--backend",
        default="auto",
        help="auto (vLLM if importable), transformers, "
        "openai (an OpenAI-compatible server at --base-url), vllm",
    )
    g.add_argument(
        "--outputs",
        type=Path,
        default=None,
        help="take this answers file (alpaca_eval / FastChat format) instead of generating",
    )
    g.add_argument("--limit", type=int, default=None, help="only the first N items (a smoke run)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument(
        "--preset",
        default=None,
        choices=list(ALPACA_EVAL_PRESETS),
        help="AlpacaEval decoding preset (default alpaca_eval)",
    )
    g.add_argument("--temperature", type=float, default=None, help="AlpacaEval only")
    g.add_argument("--top-p", type=float, default=None, help="AlpacaEval only")
    g.add_argument("--max-new-tokens", type=int, default=None)
    for flag, (_, kind) in GENERATOR_FLAGS.items():
        g.add_argument("--" + flag.replace("_", "-"), type=kind, default=None)


def _judge_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("judge")
    g.add_argument("--judge", default="openai", choices=list(JUDGE_DEFAULTS))
    g.add_argument(
        "--judge-model",
        default=None,
        help="default: gpt-4-1106-preview (AlpacaEval), gpt-4 (MT-bench); "
        "transformers: builtin:smollm2-135m-instruct",
    )
    g.add_argument("--judge-base-url", default=None, help="an OpenAI-compatible server")
    g.add_argument("--judge-api-key-env", default="OPENAI_API_KEY")
    g.add_argument("--judge-concurrency", type=int, default=8)
    g.add_argument("--judge-num-threads", type=int, default=None, help="transformers judge")
    g.add_argument(
        "--judge-cache",
        type=Path,
        default=None,
        help="SQLite cache (default: <results>/judge-cache.sqlite)",
    )
    g.add_argument("--retries", type=int, default=2, help="MT-bench unparseable verdicts")
    g.add_argument(
        "--judge-max-tokens",
        type=int,
        default=None,
        help="MT-bench judge reply length (default FastChat's 2048; fewer: a smoke run with a "
        "small local judge; recorded in judge.json)",
    )
    g.add_argument("--pairwise-baseline", default=None, help="MT-bench: also pairwise vs RUN")
    g.add_argument(
        "--df-gamed",
        type=Path,
        default=None,
        help="alpaca_eval's df_gamed.csv, for the LC win rate offline",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="step", required=True)
    for name in ("generate", "judge", "eval"):
        p = sub.add_parser(name)
        _common(p)
        if name != "judge":
            _generation_flags(p)
        if name != "generate":
            _judge_flags(p)
    p = sub.add_parser("report")
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--df-gamed", type=Path, default=None)
    return parser


def _generator_factory(args, spec):
    from training.generation import make_generator
    from training.generation.registry import backend_options, resolve_backend

    backend = resolve_backend(args.backend)
    accepted = set(backend_options(backend))
    options = {}
    for flag, (option, _) in GENERATOR_FLAGS.items():
        value = getattr(args, flag)
        if value is None:
            continue
        if option not in accepted:
            raise SystemExit(f"--{flag.replace('_', '-')} is not an option of backend {backend!r}")
        options[option] = value
    return lambda: make_generator(backend, spec, **options)


def _make_judge(args, model: str):
    from evaluation.judge import JudgeCache, make_judge
    from training.models import ModelSpec

    cache = JudgeCache(args.judge_cache or args.results / "judge-cache.sqlite")
    if args.judge == "transformers":
        spec = ModelSpec(model)
        return make_judge(
            "transformers", spec=spec, cache=cache, num_threads=args.judge_num_threads
        )
    return make_judge(
        "openai",
        model=model,
        base_url=args.judge_base_url,
        api_key_env=args.judge_api_key_env,
        cache=cache,
        concurrency=args.judge_concurrency,
    )


def _data_paths(args) -> dict:
    return {"alpaca_eval": args.alpaca_eval, "mt_bench": args.mt_bench}


def _generate(args) -> str:
    from training.models import ModelSpec

    run = check_run_name(args.run or default_run_name(args.model))
    benches = resolve_benches(args.bench)
    model = {"name_or_path": args.model, "gguf_file": args.gguf_file}
    if args.outputs is not None:
        if len(benches) != 1:
            raise SystemExit("--outputs is one benchmark's answers file: give --bench")
        where = steps.import_outputs(
            benches[0],
            args.outputs,
            model,
            args.results,
            run,
            _data_paths(args)[benches[0].name],
            args.limit,
        )
        print(f"generate: imported {args.outputs} -> {where.path}")
        return run
    spec = ModelSpec(args.model, gguf_file=args.gguf_file, dtype=args.dtype, device=args.device)
    answering = Answering(args.seed, args.preset, args.temperature, args.top_p, args.max_new_tokens)
    for where in steps.generate(
        benches,
        _generator_factory(args, spec),
        model,
        args.results,
        run,
        _data_paths(args),
        args.limit,
        answering,
    ):
        print(f"generate: {where.path}")
    return run


def _judge(args, run: str) -> None:
    judging = Judging(args.retries, args.df_gamed, args.pairwise_baseline, args.judge_max_tokens)
    benches = resolve_benches(args.bench)
    if args.bench == ALL:  # the benchmarks this run has answers for
        benches = [b for b in benches if RunDir(args.results, run, b.name).has(GENERATION)]
        if not benches:
            raise SystemExit(f"judge: run {run!r} has no answers under {args.results}")
    # one judge per judge model: the two benchmarks' official judges differ
    by_model: dict[str, list] = {}
    for bench in benches:
        model = args.judge_model or bench.default_judge_model(args.judge)
        by_model.setdefault(model, []).append(bench)
    for model, group in by_model.items():
        judge = _make_judge(args, model)
        try:
            for where in steps.judge(group, judge, args.results, run, _data_paths(args), judging):
                print(f"judge: {where.path} ({judge.model})")
        finally:
            judge.close()
            if judge.cache is not None:
                judge.cache.close()


def _report(args) -> None:
    records = steps.report(BENCHES, args.results, args.df_gamed)
    if not records:
        print(f"report: no judged run under {args.results}")
        return
    for r in records:
        print(f"report: {r['run']}/{r['bench']}: {_headline(r)}")
    print(f"report: {args.results / 'leaderboard.md'}")


def _headline(record: dict) -> str:
    m = record["metrics"]
    if m.get("unscored"):
        return f"not scored: {m['unscored']}"
    if record["bench"] == "alpaca_eval":
        lc = m["length_controlled_winrate"]
        lc_text = f"LC {lc:.2f}" if lc is not None else "LC n/a"
        return f"{lc_text}, WR {m['win_rate']:.2f} +- {m['standard_error']:.2f} (n {m['n']})"
    return f"score {m['overall']:.3f} (turn 1 {m['turn_1']}, turn 2 {m['turn_2']})"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.step == "report":
        _report(args)
        return 0
    if args.step == "generate":
        _generate(args)
        return 0
    if args.step == "judge":
        if args.run is None:
            raise SystemExit("judge: give --run NAME (a folder under --results)")
        _judge(args, check_run_name(args.run))
        _report(args)
        return 0
    run = _generate(args)  # eval
    _judge(args, run)
    _report(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
