"""The benchmarks of the harness: name -> `Bench`. CLI choices and errors derive from the keys."""

from evaluation.benches.alpaca_eval import AlpacaEvalBench
from evaluation.benches.base import JUDGE_DEFAULTS, Answering, Bench, Judging
from evaluation.benches.mt_bench import MTBenchBench

BENCHES: dict[str, Bench] = {b.name: b for b in (AlpacaEvalBench(), MTBenchBench())}
ALL = "all"


def resolve_benches(name: str) -> list[Bench]:
    """`all` or one benchmark's name -> the benches to run."""
    if name == ALL:
        return list(BENCHES.values())
    if name not in BENCHES:
        raise ValueError(f"unknown benchmark {name!r} (known: {', '.join([*BENCHES, ALL])})")
    return [BENCHES[name]]


__all__ = ["ALL", "BENCHES", "JUDGE_DEFAULTS", "Answering", "Bench", "Judging", "resolve_benches"]
