"""The one registry of figures: `python -m figures` draws each; paper/INDEX.md names them."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from selection.provenance import atomic_write_bytes, provenance, write_json

FIGURES: dict[str, Callable[[Path], list[Path]]] = {}
SLOW: set[str] = set()  # figures taking more than a few seconds: their CLI test is marked slow
# figures of results a user produces (evaluated checkpoints): without them they draw nothing and
# say so
OPTIONAL: set[str] = set()


def register(name: str, slow: bool = False, optional: bool = False) -> Callable:
    """Decorator adding a figure function `fn(out_dir) -> [paths written]` under `name`."""

    def add(fn: Callable) -> Callable:
        if name in FIGURES:
            raise ValueError(f"figure {name!r} is registered twice")
        FIGURES[name] = fn
        if slow:
            SLOW.add(name)
        if optional:
            OPTIONAL.add(name)
        return fn

    return add


def save(fig, path: Path, config: dict, seed: int | None) -> list[Path]:
    """Atomically save a matplotlib figure as PNG, with its provenance in `<name>.meta.json`."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=150, bbox_inches="tight")
    png = atomic_write_bytes(path.with_suffix(".png"), buffer.getvalue())
    meta = write_json(path.with_suffix(".meta.json"), provenance(config, seed))
    return [png, meta]
