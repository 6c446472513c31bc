"""Measure each loss's float32 relative error against its arbitrary-precision oracle, and the
smallest positive loss float64 returns.

    python -m tests.training.float_accuracy [--seeds 300]

(from the repository root). For every case of the catalogue it evaluates the float32 loss on
`wide_inputs.wide_batch` groups (exact losses from ~1e-21 to ~1e3), computes the oracle on the
same float32-rounded inputs, and prints the largest relative error in three loss ranges. The
last column is the smallest positive value the float64 loss takes as the positives' margin
grows to 1500 (a loss that flushes to 0 stops there; one bounded below by its target's entropy,
or IPO's, stays far above).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loss_cases import CASES
from loss_oracles import Row, oracle_loss
from wide_inputs import wide_batch

RANGES = ((1e-20, 1e-6), (1e-6, 1.0), (1.0, 1e3))


def float32_errors(case, seeds: int) -> list[tuple[float, float]]:
    """(exact loss, relative error of the float32 loss) for every valid row."""
    out = []
    for seed in range(seeds):
        batch = wide_batch(case, seed)
        loss = case(batch)[0].double()
        for b in range(batch.mask.shape[0]):
            if batch.mask[b].any():
                exact = oracle_loss(case.name, case.cfg, Row.of(batch, b))
                out.append((float(exact), float(abs(loss[b].item() - exact) / exact)))
    return out


def smallest_float64_loss(case) -> float:
    """The smallest positive float64 loss over margins 0..1500 on one group (k = 2..6)."""
    smallest = float("inf")
    for seed in range(3):
        for margin in range(0, 1500, 10):
            batch = wide_batch(case, seed, torch.float64, margin=float(margin))
            loss = case(batch)[0][0].item()
            if loss > 0:
                smallest = min(smallest, loss)
    return smallest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=300)
    args = parser.parse_args()
    head = " | ".join(f"max rel err, L in [{lo:.0e}, {hi:.0e})" for lo, hi in RANGES)
    print(f"| case | rows | smallest L | {head} | smallest float64 L > 0 |")
    print("|---" * (len(RANGES) + 4) + "|")
    for case in CASES:
        errs = float32_errors(case, args.seeds)
        cells = []
        for lo, hi in RANGES:
            inside = [e for loss, e in errs if lo <= loss < hi]
            cells.append(f"{max(inside):.1e} ({len(inside)})" if inside else "-")
        floor_cell = f"{smallest_float64_loss(case):.1e}"
        smallest = min(loss for loss, _ in errs)
        print(
            f"| {case.label} | {len(errs)} | {smallest:.0e} | {' | '.join(cells)} | {floor_cell} |"
        )


if __name__ == "__main__":
    main()
