"""Apply each mutant to a temporary copy of the project and run the suites that must catch it.

For every mutant, in a private copy of the source tree (the files git tracks plus untracked,
not-ignored ones, as they are in the working tree):
1. replace its snippet (exactly one occurrence, else the catalogue has drifted: an error);
2. run the fast test suite, `python -m pytest -q -x -m "not slow"` (the mutated area's tests first),
   stopping at the first failure;
3. for selection and theory mutants, run `python -m theory check --fail-fast` (`make bounds`);
4. restore the file.
A suite "catches" a mutant when it exits non-zero (a failure, an error, or a run past `timeout`).
Commands run from the copy's root with `python -m`, so the copy's packages come first on sys.path
(verified once per copy). The unmutated copy is run first: both suites must pass there, or every
"catch" would be meaningless. Copies are processed by `jobs` workers in parallel.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm.auto import tqdm

from .catalogue import MUTANTS, Mutant

ROOT = Path(__file__).resolve().parents[2]
TESTS = ("-m", "pytest", "-q", "-x", "-m", "not slow", "-p", "no:cacheprovider")
# The catalogue's own test reads the sources and would "catch" every mutant: left out.
IGNORED = ("--ignore", "tests/theory/test_mutation.py")
# The tests of the mutated area run first (pytest -x then stops sooner); every test still runs.
FIRST = {"selection": "tests/selection", "theory": "tests/theory", "losses": "tests/training"}
FAILED_TEST = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.MULTILINE)
FAILED_CHECK = re.compile(r"^\[FAIL\] (\S+)", re.MULTILINE)


@dataclass(frozen=True)
class Outcome:
    """What one suite did with one mutant."""

    caught: bool | None  # None: not run (not required for this mutant)
    detail: str  # the first failing test or check, "timeout", or ""
    seconds: float


@dataclass(frozen=True)
class MutantResult:
    mutant: Mutant
    tests: Outcome
    bounds: Outcome

    @property
    def survived(self) -> bool:
        return not self.tests.caught or (self.mutant.needs_bounds and not self.bounds.caught)

    def to_json(self) -> dict:
        return asdict(self.mutant) | {
            "tests": asdict(self.tests),
            "bounds": asdict(self.bounds),
            "survived": self.survived,
        }


def project_files(root: Path = ROOT) -> list[str]:
    """Tracked and untracked-but-not-ignored files of the working tree, relative to root."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout
    return [f for f in out.decode().split("\0") if f and (root / f).is_file()]


def make_copy(dest: Path, root: Path = ROOT) -> Path:
    """Copy the project's files to `dest` and check that Python imports them from there."""
    for rel in project_files(root):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)
    probe = subprocess.run(
        [sys.executable, "-c", "import selection, theory; print(selection.__file__)"],
        cwd=dest,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(probe).resolve().is_relative_to(dest.resolve()):
        raise RuntimeError(f"the copy in {dest} imports selection from {probe}, not from the copy")
    return dest


def apply(mutant: Mutant, root: Path) -> str:
    """Write the mutated file into `root`; return the original text (to restore)."""
    path = root / mutant.path
    text = path.read_text()
    found = text.count(mutant.old)
    if found != 1:
        raise ValueError(
            f"mutant {mutant.name}: the snippet occurs {found} times in {mutant.path} "
            f"(expected once): {mutant.old!r}"
        )
    path.write_text(text.replace(mutant.old, mutant.new))
    return text


def _run(args: list[str], cwd: Path, timeout: float, pattern: re.Pattern) -> Outcome:
    env = os.environ | {"PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg"}
    tic = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return Outcome(True, "timeout", time.perf_counter() - tic)
    first = pattern.search(done.stdout + done.stderr)
    detail = first.group(1) if first else ("" if done.returncode == 0 else done.stdout[-200:])
    return Outcome(done.returncode != 0, detail, time.perf_counter() - tic)


def checks_cheapest_first(root: Path) -> list[str]:
    """Every registered check, the fastest first by their last recorded run
    (`theory/results/bounds.json`); with --fail-fast a caught mutant then costs less. All checks
    still run when none fails."""
    from theory.checks import CHECKS

    seconds = {}
    try:
        for report in json.loads((root / "theory/results/bounds.json").read_text())["results"]:
            seconds[report["name"]] = float(report["seconds"])
    except (OSError, KeyError, ValueError):
        pass
    return sorted(CHECKS, key=lambda name: seconds.get(name, math.inf))


def run_suites(root: Path, area: str, bounds: bool, timeout: float) -> tuple[Outcome, Outcome]:
    tests = _run([*TESTS, *IGNORED, FIRST[area]], root, timeout, FAILED_TEST)
    if not tests.caught:  # then the rest of the suite
        rest = _run(
            [*TESTS, *IGNORED, "--ignore", FIRST[area], "tests"], root, timeout, FAILED_TEST
        )
        tests = Outcome(rest.caught, rest.detail, tests.seconds + rest.seconds)
    if not bounds:
        return tests, Outcome(None, "", 0.0)
    out = str(root / ".mutant-bounds")
    check = _run(
        ["-m", "theory", "check", "--fail-fast", "--out", out], root, timeout, FAILED_CHECK
    )
    return tests, check


def run_mutants(mutants=MUTANTS, jobs: int = 1, timeout: float = 1800.0) -> list[MutantResult]:
    """Run every mutant (see the module docstring); raises if the unmutated project fails."""
    with tempfile.TemporaryDirectory(prefix="ampo-mutants-") as tmp:
        copies = [make_copy(Path(tmp) / f"copy{i}") for i in range(max(1, jobs))]
        for mutant in mutants:  # every snippet must be present before anything runs
            original = apply(mutant, copies[0])
            copies[0].joinpath(mutant.path).write_text(original)
        base_tests, base_bounds = run_suites(copies[0], "theory", True, timeout)
        if base_tests.caught or base_bounds.caught:
            raise RuntimeError(
                "the unmutated project fails its own suites "
                f"(tests: {base_tests.detail!r}, bounds: {base_bounds.detail!r}); fix that first"
            )
        free = list(copies)

        def one(mutant: Mutant) -> MutantResult:
            root = free.pop()
            original = apply(mutant, root)
            try:
                tests, bounds = run_suites(root, mutant.area, mutant.needs_bounds, timeout)
            finally:
                (root / mutant.path).write_text(original)
                free.append(root)
            return MutantResult(mutant, tests, bounds)

        with ThreadPoolExecutor(max_workers=len(copies)) as pool:
            results = list(
                tqdm(pool.map(one, mutants), total=len(mutants), desc="mutants", unit="mutant")
            )
    return results


def table(results: list[MutantResult]) -> str:
    """A Markdown table of the outcomes."""

    def cell(o: Outcome) -> str:
        if o.caught is None:
            return "n/a"
        return f"caught ({o.detail})" if o.caught else "**survived**"

    rows = [
        "| mutant | area | bug | tests | make bounds |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        rows.append(
            f"| `{r.mutant.name}` | {r.mutant.area} | {r.mutant.bug} | {cell(r.tests)} | "
            f"{cell(r.bounds)} |"
        )
    return "\n".join(rows)
