"""The trainer's per-step metrics: `metrics.jsonl` (one row per logged step) and, optionally,
the same scalars as TensorBoard events (`train.tensorboard`, needs the `tensorboard` package).

A resumed run first drops the rows logged after its checkpoint's step, so the file holds exactly
one row per step however often the run was stopped.
"""

from __future__ import annotations

import json
from pathlib import Path

from selection.provenance import atomic_write_bytes

FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"


class MetricsLog:
    def __init__(self, out: Path, start_step: int, tensorboard: bool = False):
        self.path = Path(out) / FILE
        self._truncate(start_step)
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as err:
                raise ImportError(
                    "train.tensorboard: true needs the tensorboard package (pip install "
                    "tensorboard); metrics.jsonl is written either way"
                ) from err
            self.writer = SummaryWriter(
                log_dir=str(Path(out) / TENSORBOARD_DIR), purge_step=start_step + 1
            )

    def write(self, row: dict) -> None:
        """Append one step's row (`row["step"]` is the optimizer step, counted from 1)."""
        with self.path.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        if self.writer is not None:
            for key, value in row.items():
                if key != "step":
                    self.writer.add_scalar(key, value, row["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def _truncate(self, step: int) -> None:
        if not self.path.exists():
            return
        rows = [line for line in self.path.read_text().splitlines() if line.strip()]
        keep = [line for line in rows if json.loads(line)["step"] <= step]
        atomic_write_bytes(self.path, "".join(line + "\n" for line in keep).encode())
