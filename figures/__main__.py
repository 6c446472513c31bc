"""Regenerate figures: `python -m figures [name ...] [--out DIR]` (all of them by default)."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import (  # noqa: F401  (each registers its figures)
    leaderboard,
    selection_pool,
    theory_bias,
    theory_expected_reward,
    theory_ilp_time,
    theory_local_search,
)
from .registry import FIGURES


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m figures", description=__doc__)
    parser.add_argument(
        "names",
        nargs="*",
        choices=[[], *sorted(FIGURES)],
        metavar="name",
        help=f"figures to draw (default: all): {', '.join(sorted(FIGURES))}",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out")
    args = parser.parse_args(argv)
    for name in args.names or sorted(FIGURES):
        for path in FIGURES[name](args.out):
            print(f"{name}: wrote {path}")


if __name__ == "__main__":
    main()
