"""`python -m theory {check,bench,mutants}`.

check [name ...] [--instances N] [--seed S] [--out DIR] [--fail-fast]: runs the registered checks of
the paper's claims (theory/checks, `make bounds`), prints one block per check (claim, instances,
worst slack, the tightest statements, PASS/FAIL) and writes `<out>/<name>.json` per check and
`<out>/bounds.json` for the run, each with provenance. Exit status 1 when a check fails;
--fail-fast stops at the first failing check.
bench: the ILP solve-time benchmark (theory/bench.py, part of `make bench`).
mutants [name ...] [--jobs J] [--out DIR]: mutation testing of the math (theory/mutation,
`make mutants`): which plausible one-line bugs the tests and `make bounds` catch. Exit status 1 when
a mutant survives.
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
        by_statement = res.details.get("worst_slack_by_statement", {})
        for statement, slack in sorted(by_statement.items(), key=lambda kv: kv[1])[:3]:
            print(f"      {slack:+.3e}  {statement}")
        report = res.to_json() | {"seconds": seconds}
        report |= provenance(dataclasses.asdict(config), args.seed)
        write_json(args.out / f"{name}.json", report)
        reports.append(report)
        if not res.passed:
            failed.append(name)
            if args.fail_fast:
                names = names[: names.index(name) + 1]
                break
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


def _mutants(args) -> int:
    from selection.provenance import atomic_write_bytes, provenance, write_json

    from .mutation.catalogue import MUTANTS, get_mutant
    from .mutation.runner import run_mutants, table

    chosen = [get_mutant(n) for n in args.names] if args.names else list(MUTANTS)
    config = {"names": [m.name for m in chosen], "jobs": args.jobs, "timeout": args.timeout}
    meta = provenance(config)  # the tree the copies are made from, before anything is written
    tic = time.perf_counter()
    results = run_mutants(chosen, jobs=args.jobs, timeout=args.timeout)
    survivors = [r.mutant.name for r in results if r.survived]
    text = table(results)
    print(text)
    print(
        f"{len(results)} mutants in {time.perf_counter() - tic:.0f} s; survived: {survivors or 'none'}"
    )
    report = {"mutants": [r.to_json() for r in results], "survived": survivors}
    write_json(args.out / "mutants.json", report | meta)
    atomic_write_bytes(args.out / "mutants.md", (text + "\n").encode())
    return 1 if survivors else 0


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
    check.add_argument("--fail-fast", action="store_true", help="stop at the first failing check")
    bench = verbs.add_parser("bench", help="ILP solve time and heuristic gap vs N")
    bench.add_argument("--sizes", type=int, nargs="+", help="pool sizes N")
    bench.add_argument("--k", type=int, help="group size (1 positive + k - 1 medoids)")
    bench.add_argument("--instances", type=int, help="pools per size")
    bench.add_argument("--out", type=Path, help="results folder")
    mutants = verbs.add_parser("mutants", help="mutation testing: which bugs the suites catch")
    mutants.add_argument("names", nargs="*", metavar="name", help="mutants to run (default: all)")
    mutants.add_argument("--jobs", type=int, default=2, help="mutants run in parallel")
    mutants.add_argument("--timeout", type=float, default=1800.0, help="seconds per suite run")
    mutants.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.verb == "check":
        return _check(args)
    if args.verb == "mutants":
        return _mutants(args)
    from .bench import BenchConfig, run_bench

    given = {k: v for k, v in vars(args).items() if k != "verb" and v is not None}
    if "sizes" in given:
        given["sizes"] = tuple(given["sizes"])
    run_bench(BenchConfig(**given))
    return 0


if __name__ == "__main__":
    sys.exit(main())
