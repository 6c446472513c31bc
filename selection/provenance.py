"""Provenance of every result this package writes: config, seed, versions, machine; atomic writes.

Used by all folders (figures, benchmarks, theory checks, pipeline stages): a result file never
appears half-written (it is written to a temporary file, then renamed), and its metadata says how
to regenerate it.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "ampo",
    "numpy",
    "scipy",
    "torch",
    "cvxpy",
    "highspy",
    "matplotlib",
    "scikit-learn",
    # the model half: generation, scoring, embedding, training
    "transformers",
    "tokenizers",
    "accelerate",
    "safetensors",
    "sentence-transformers",
    "trl",
    "vllm",
    "datasets",
    "pyarrow",
    # the evaluation harness: metric code, judge client, FastChat when installed
    "alpaca-eval",
    "openai",
    "pandas",
    "fschat",
)


def versions(packages=PACKAGES) -> dict[str, str | None]:
    """Installed versions of the packages that shape results (None when absent)."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


# Outputs, not sources: a run that writes several result files must not mark its own later
# files "+dirty" because it has just rewritten the earlier ones.
OUTPUT_PATHS = (":(exclude,glob)**/results/**", ":(exclude,glob)figures/out/**")


def git_commit(root: Path | None = None) -> str | None:
    """The commit of the source tree (this package's checkout unless `root`), with '+dirty' for
    uncommitted changes to tracked files other than result outputs (OUTPUT_PATHS); None outside
    git."""
    root = Path(__file__).resolve().parent.parent if root is None else Path(root)
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", *OUTPUT_PATHS],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def machine() -> dict[str, object]:
    """Where a measurement ran: CPU model and count, torch threads, GPU name if any."""
    cpu = platform.processor() or None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, object] = {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["cuda_device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        pass
    return info


def provenance(config: dict, seed: int | None = None) -> dict[str, object]:
    """The metadata block stored beside or inside every result."""
    return {
        "config": config,
        "seed": seed,
        "versions": versions(),
        "git_commit": git_commit(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, obj) -> Path:
    """Atomically write `obj` as indented JSON."""
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())
