"""`python -m theory check [name ...] [--instances N] [--seed S] [--out DIR]` and `python -m theory bench`.

check: runs the registered checks of the paper's claims (theory/checks, `make bounds`), prints one
block per check (claim, instances, worst slack, PASS/FAIL) and writes `<out>/<name>.json` per check
and `<out>/bounds.json` for the run, each with provenance. Exit status 1 when a check fails.
bench: the ILP solve-time benchmark (theory/bench.py, part of `make bench`).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def _check(args) -> int:
    from selection.provenance import provenance, write_json

    from .checks import CHECKS, get_check

    names = args.names or list(CHECKS)
    reports, failed, start = [], [], time.perf_counter()
    for name in names:
        check = get_check(name)
        overrides = {} if args.instances is None else {"instances": args.instances}
        config = dataclasses.replace(check.config(), **overrides)
        tic = time.perf_counter()
        res = check.run(config, args.seed)
        seconds = time.perf_counter() - tic
        print(f"[{res.verdict.value}] {res.name}  ({seconds:.1f} s)")
        print(f"    claim:          {res.claim}")
        print(f"    formalisation:  {res.formalisation}")
        print(f"    instances:      {res.instances}   worst slack: {res.worst_slack:.6g}")
        report = res.to_json() | {"seconds": seconds}
        report |= provenance(dataclasses.asdict(config), args.seed)
        write_json(args.out / f"{name}.json", report)
        reports.append(report)
        if not res.passed:
            failed.append(name)
    total = time.perf_counter() - start
    summary = {
        "checks": {r["name"]: r["verdict"] for r in reports},
        "failed": failed,
        "seconds": total,
        "results": reports,
    }
    config = {"names": names, "instances": args.instances, "out": str(args.out)}
    write_json(args.out / "bounds.json", summary | provenance(config, args.seed))
    verdict = "FAIL: " + ", ".join(failed) if failed else "PASS"
    print(f"{len(names)} checks in {total:.1f} s: {verdict}; reports in {args.out}")
    return 1 if failed else 0


def main(argv=None) -> int:
    from .checks import CHECKS

    parser = argparse.ArgumentParser(prog="python -m theory", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)
    check = verbs.add_parser("check", help="run the checks of the paper's claims")
    check.add_argument(
        "names",
        nargs="*",
        choices=[[], *CHECKS],
        metavar="name",
        help=f"checks to run (default: all): {', '.join(CHECKS)}",
    )
    check.add_argument("--instances", type=int, help="override every check's instance count")
    check.add_argument("--seed", type=int, default=0)
    check.add_argument("--out", type=Path, default=RESULTS)
    bench = verbs.add_parser("bench", help="ILP solve time and heuristic gap vs N")
    bench.add_argument("--sizes", type=int, nargs="+", help="pool sizes N")
    bench.add_argument("--k", type=int, help="group size (1 positive + k - 1 medoids)")
    bench.add_argument("--instances", type=int, help="pools per size")
    bench.add_argument("--out", type=Path, help="results folder")
    args = parser.parse_args(argv)
    if args.verb == "check":
        return _check(args)
    from .bench import BenchConfig, run_bench

    given = {k: v for k, v in vars(args).items() if k != "verb" and v is not None}
    if "sizes" in given:
        given["sizes"] = tuple(given["sizes"])
    run_bench(BenchConfig(**given))
    return 0


if __name__ == "__main__":
    sys.exit(main())
