"""The leaderboard: measured runs under `results/` with bootstrap intervals, paired differences,
and the published numbers, written as `results/leaderboard.md` and `results/leaderboard.csv`."""

from evaluation.leaderboard.runs import collect, paired
from evaluation.leaderboard.table import write_leaderboard

__all__ = ["collect", "paired", "write_leaderboard"]
