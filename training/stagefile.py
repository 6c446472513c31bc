"""The output file of a pipeline stage: resumable, atomic, with its `.meta.json`.

Every stage (generate, score, embed, select, ref-logps) writes through `StageOutput`:

    with StageOutput(out, kind="pool", config=cfg, seed=seed, inputs=[src]) as out:
        for record in read_records(src, "prompt"):
            if record.prompt_id in out.done_ids:  # written by an earlier, interrupted run
                continue
            ...
            out.write([pool], embeddings=[emb])  # or out.drop("empty response")

Files beside the target `<dir>/<stem>.jsonl`:
- during the run: `<name>.partial` (the JSONL lines written so far, flushed and fsynced at every
  `write`), `<name>.partial.emb` (raw little-endian embedding rows, (n_i, d) a record, in record
  order) and `<name>.partial.json` (what the run is: kind, config, seed, input hashes, d, and
  the counts saved with the records); a run that fails before its first record removes them;
- on clean exit: `<stem>.emb.npy` (R, N_max, d) with zero rows past a record's n_i, then
  `<stem>.meta.json`, then the partial renamed to `<stem>.jsonl` (the mark of completion), then
  the partial's companions removed. Each final file appears by a rename, never half-written.

A re-run with the same target resumes: the records of every `write` that fully reached the disk
(its lines and embedding rows) are kept, a write cut short is dropped whole, and new records are
appended, so the finished file is byte for byte the file an uninterrupted run writes. The counts
(`count`, `drop`) made before a write are saved with it in the run description, so a resumed run
starts from the counts of the records it keeps and its meta counts what an uninterrupted run's
does; `done_ids` are the prompt_ids written, and those dropped with `drop(..., prompt_id=...)`,
which a resumed run must not process again. A partial or a finished file made with another config,
seed, kind, embedding dtype or other input contents is never mixed with the new run: it raises
`StageMismatchError`, saying what differs and what to delete.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from selection.provenance import provenance, write_json
from training.records import (
    Record,
    RecordError,
    parse_line,
    record_class,
    to_json_line,
)

EMBEDDING_DTYPES = {"float16": "<f2", "float32": "<f4"}
RESERVED_COUNTS = ("records", "written", "resumed", "dropped")


def meta_path(path) -> Path:
    """`<stem>.meta.json` beside a stage file."""
    return Path(path).with_suffix(".meta.json")


def embeddings_path(path) -> Path:
    """`<stem>.emb.npy` beside a stage file: (R, N_max, d), row i aligned with line i."""
    return Path(path).with_suffix(".emb.npy")


def partial_paths(path) -> tuple[Path, Path, Path]:
    """(JSONL lines, raw embedding rows, run description) of an unfinished stage file."""
    path = Path(path)
    return tuple(
        path.with_name(path.name + s) for s in (".partial", ".partial.emb", ".partial.json")
    )


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def describe_inputs(inputs: Iterable) -> list[dict]:
    """A local file by path, size and sha256; anything else (a hub dataset) by name."""
    out = []
    for item in inputs:
        path = Path(item)
        if path.is_file():
            out.append(
                {"path": str(path), "bytes": path.stat().st_size, "sha256": sha256_file(path)}
            )
        else:
            out.append({"name": str(item)})
    return out


class StageMismatchError(ValueError):
    """An existing output (finished or partial) was made by a different run."""


def _plain(config) -> dict:
    """The config as plain JSON (fails now, not after the run, if it is not serialisable)."""
    if dataclasses.is_dataclass(config):
        config = dataclasses.asdict(config)
    return json.loads(json.dumps(config, allow_nan=False))


def _identity(run: dict, ignore: Sequence[str]) -> dict:
    """What must agree between runs writing the same file (not versions, times or counts)."""
    return {
        "kind": run["kind"],
        "config": {k: v for k, v in run["config"].items() if k not in ignore},
        "seed": run["seed"],
        "inputs": [i.get("sha256", i.get("name")) for i in run["inputs"]],
        "embeddings": run["embeddings"],
    }


def _differences(disk: dict, now: dict) -> list[str]:
    diffs = [
        f"{key} {disk[key]!r} on disk, {now[key]!r} now"
        for key in ("kind", "seed", "embeddings")
        if disk[key] != now[key]
    ]
    for key in sorted(set(disk["config"]) | set(now["config"])):
        a, b = disk["config"].get(key, "<absent>"), now["config"].get(key, "<absent>")
        if a != b:
            diffs.append(f"config {key!r} {a!r} on disk, {b!r} now")
    if disk["inputs"] != now["inputs"]:
        diffs.append("input files differ (sha256)")
    return diffs


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class StageOutput:
    """Resumable, atomic writer of one stage file of `kind` ("prompt", "pool" or "group").

    `embeddings` ("float16" or "float32") makes every `write` carry one (n_i, d) array per
    record, n_i = its number of responses. `resume_ignore` names top-level config keys that may
    change between a run and its resumption (batch size, device)."""

    def __init__(
        self,
        path,
        *,
        kind: str,
        config,
        seed: int | None = None,
        inputs: Sequence = (),
        embeddings: str | None = None,
        resume_ignore: Sequence[str] = (),
    ):
        self.cls = record_class(kind)
        if embeddings is not None and embeddings not in EMBEDDING_DTYPES:
            raise ValueError(f"embeddings: {embeddings!r} not one of {', '.join(EMBEDDING_DTYPES)}")
        if embeddings is not None and kind == "prompt":
            raise ValueError("embeddings: prompt records have no responses to embed")
        self.path = Path(path)
        self.meta_path, self.embeddings_path = meta_path(path), embeddings_path(path)
        self._partial, self._emb_partial, self._state = partial_paths(path)
        self.run = {
            "kind": kind,
            "config": _plain(config),
            "seed": seed,
            "inputs": list(inputs),  # described (hashed) on entry
            "embeddings": embeddings,
        }
        self.resume_ignore = tuple(resume_ignore)
        self.dtype = np.dtype(EMBEDDING_DTYPES[embeddings]) if embeddings else None
        self.dim: int | None = None
        self.complete = False  # the target was already finished by an identical run
        self.written = self.resumed = 0
        self.dropped: Counter[str] = Counter()
        self.counters: Counter[str] = Counter()
        self._done: set[str] = set()  # prompt_ids in the file
        self._dropped_ids: set[str] = set()  # prompt_ids dropped by `drop(..., prompt_id=)`
        self._skip: set[str] = set()  # both: what a stage must not process again
        self._sizes: list[int] = []  # n_i of every record in the file, in order
        self._saved = self._progress()  # the counts saved with the records on disk
        self._jsonl = self._emb = None
        self._broken = False

    # --- entering: finished, resumed or new ---------------------------------------------------

    def __enter__(self) -> StageOutput:
        self.run["inputs"] = describe_inputs(self.run["inputs"])
        if self.path.exists():
            self._enter_finished()
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._jsonl = open(self._partial, "a+b")
        try:
            fcntl.flock(self._jsonl, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._jsonl.close()
            raise RuntimeError(f"{self._partial} is being written by another process") from None
        try:
            if self._state.exists():
                state = json.loads(self._state.read_text())
                self._check(state, f"{self._partial} (an unfinished run)", self._partial_files())
                self.dim = state.get("embedding_dim")
                progress = state.get("progress")
            else:
                self._jsonl.truncate(0)  # a partial without its description cannot be trusted
                self._save_state()
                progress = None
            if self.dtype is not None:
                self._emb = open(self._emb_partial, "a+b")
            self._recover(progress)
        except BaseException:
            self._close()
            raise
        return self

    def _enter_finished(self) -> None:
        if not self.meta_path.exists():
            raise StageMismatchError(
                f"{self.path} exists without {self.meta_path.name}; delete it or write to a new path"
            )
        meta = json.loads(self.meta_path.read_text())
        disk = {**meta, "embeddings": (meta.get("embeddings") or {}).get("dtype")}
        files = [self.path, self.meta_path] + ([self.embeddings_path] if self.dtype else [])
        self._check(disk, f"{self.path} (finished)", files)
        if self.dtype is not None and not self.embeddings_path.exists():
            raise StageMismatchError(
                f"{self.path} is finished but {self.embeddings_path} is missing"
            )
        for record in read_records(self.path, self.run["kind"]):
            self._done.add(record.prompt_id)
        self._skip = set(self._done)
        self.complete, self.resumed = True, len(self._done)
        for leftover in self._partial_files():  # a crash after the final rename
            leftover.unlink(missing_ok=True)

    def _partial_files(self) -> list[Path]:
        return [self._partial, self._emb_partial, self._state]

    def _check(self, disk: dict, what: str, files: Sequence[Path]) -> None:
        diffs = _differences(
            _identity(disk, self.resume_ignore), _identity(self.run, self.resume_ignore)
        )
        if diffs:
            names = ", ".join(str(f) for f in files if f.exists())
            raise StageMismatchError(
                f"{what} was written by a different run: {'; '.join(diffs)}. "
                f"Delete {names} to start over, or write to a new path."
            )

    def _progress(self, records: int | None = None) -> dict:
        """The counts as they stand, for the file once it holds `records` records."""
        return {
            "records": len(self._sizes) if records is None else records,
            "dropped": dict(self.dropped),
            "counts": dict(self.counters),
            "dropped_ids": sorted(self._dropped_ids),
        }

    def _save_state(self, after: dict | None = None) -> None:
        """The run description, and the counts saved with the records on disk (`before`) and
        with those of the write in flight (`after`): a resume keeps the one its records match."""
        progress = {"before": self._saved, "after": after or self._saved}
        write_json(self._state, {**self.run, "embedding_dim": self.dim, "progress": progress})

    def _recover(self, progress: dict | None) -> None:
        """Keep the partial's records up to the last write that fully reached the disk (lines
        and embedding rows), and the counts saved with it; truncate the rest."""
        row_bytes = self.dim * self.dtype.itemsize if self.dtype is not None and self.dim else 0
        emb_bytes = self._emb_partial.stat().st_size if self._emb is not None else 0
        ends, ids, sizes = [0], [], []  # byte offset after each record; ids; n_i
        rows = 0
        self._jsonl.seek(0)
        for number, raw in enumerate(self._jsonl, start=1):
            if not raw.endswith(b"\n"):
                break  # the line in flight when the last run stopped
            record = parse_line(
                raw.decode("utf-8"), self.run["kind"], file=self._partial, line=number
            )
            n = self._size(record)
            if self._emb is not None and (not row_bytes or (rows + n) * row_bytes > emb_bytes):
                break  # its embedding rows did not all reach the disk
            if record.prompt_id in ids:
                raise RecordError("duplicate prompt_id", field="prompt_id").at(
                    self._partial, number, prompt_id=record.prompt_id
                )
            ids.append(record.prompt_id)
            sizes.append(n)
            ends.append(ends[-1] + len(raw))
            rows += n
        saved = None
        if progress:  # the write in flight when the run stopped either landed whole or not
            after, before = progress["after"], progress["before"]
            saved = after if len(ids) >= after["records"] else before
            if len(ids) < saved["records"]:
                raise StageMismatchError(
                    f"{self._partial} holds {len(ids)} complete records, fewer than the "
                    f"{saved['records']} its run description says reached the disk; delete "
                    f"{', '.join(str(p) for p in self._partial_files() if p.exists())} to start over"
                )
            keep = saved["records"]
        else:
            keep = len(ids)  # no write was ever saved
        ids, sizes = ids[:keep], sizes[:keep]
        self._jsonl.truncate(ends[keep])
        self._jsonl.seek(0, os.SEEK_END)
        if self._emb is not None:
            self._emb.truncate(sum(sizes) * row_bytes)
        self._done = set(ids)
        self._sizes = sizes
        if saved is not None:
            self.dropped = Counter(saved["dropped"])
            self.counters = Counter(saved["counts"])
            self._dropped_ids = set(saved["dropped_ids"])
        self._skip = self._done | self._dropped_ids
        self._saved = self._progress()
        self.resumed = len(self._done)

    def _size(self, record: Record) -> int:
        return len(getattr(record, "responses", ()))

    # --- during the run -----------------------------------------------------------------------

    @property
    def done_ids(self) -> set[str]:
        """prompt_ids already in the file (resumed or written now) or dropped with their id: the
        inputs a stage must not process again; do not modify."""
        return self._skip

    @property
    def records(self) -> int:
        return len(self._sizes) if not self.complete else self.resumed

    def write(self, records: Sequence[Record], embeddings: Sequence | None = None) -> None:
        """Append records (and one (n_i, d) embedding array each); durable when this returns."""
        if self.complete:
            raise RuntimeError(f"{self.path} is already finished; nothing may be added")
        if self._jsonl is None or self._broken:
            raise RuntimeError(f"{self.path}: write outside the `with` block or after a failure")
        records = list(records)
        ids = set()
        for record in records:
            if not isinstance(record, self.cls):
                raise TypeError(
                    f"{self.path}: expected {self.cls.__name__}, got {type(record).__name__}"
                )
            if record.prompt_id in self._skip or record.prompt_id in ids:
                done = "dropped" if record.prompt_id in self._dropped_ids else "written"
                raise ValueError(f"{self.path}: prompt_id {record.prompt_id!r} is already {done}")
            ids.add(record.prompt_id)
        lines = "".join(to_json_line(r) + "\n" for r in records).encode("utf-8")
        blob = self._embedding_bytes(records, embeddings)
        after = self._progress(len(self._sizes) + len(records))
        try:
            self._save_state(after)  # the counts travel with the records they describe
            if blob is not None:  # rows first: a line on disk always has its rows
                self._emb.write(blob)
                self._emb.flush()
                os.fsync(self._emb.fileno())
            self._jsonl.write(lines)
            self._jsonl.flush()
            os.fsync(self._jsonl.fileno())
        except BaseException:
            self._broken = True  # the two partials may disagree until a resume re-aligns them
            raise
        self._done |= ids
        self._skip |= ids
        self._sizes.extend(self._size(r) for r in records)
        self.written += len(records)
        self._saved = after

    def _embedding_bytes(self, records, embeddings) -> bytes | None:
        if self.dtype is None:
            if embeddings is not None:
                raise ValueError(f"{self.path}: embeddings given, but none were configured")
            return None
        if embeddings is None or len(embeddings) != len(records):
            raise ValueError(f"{self.path}: one embedding array per record is required")
        arrays, dim = [], self.dim  # nothing changes until every array is checked
        for record, emb in zip(records, embeddings, strict=True):
            with np.errstate(over="ignore"):  # overflow is reported below as not finite
                a = np.asarray(emb).astype(self.dtype)
            n, d = self._size(record), (a.shape[1] if a.ndim == 2 else None)
            if a.ndim != 2 or a.shape[0] != n or (dim is not None and d != dim):
                raise ValueError(
                    f"{self.path}: prompt_id {record.prompt_id!r}: embeddings of shape "
                    f"{np.shape(emb)}, expected ({n}, {dim if dim is not None else 'd'})"
                )
            if not np.isfinite(a).all():
                raise ValueError(
                    f"{self.path}: prompt_id {record.prompt_id!r}: embeddings not finite "
                    f"in {self.dtype.name}"
                )
            dim = d
            arrays.append(np.ascontiguousarray(a).tobytes())
        if self.dim is None and dim is not None:
            self.dim = dim
            self._save_state()  # before the first rows reach the disk
        return b"".join(arrays)

    def drop(self, reason: str, n: int = 1, prompt_id: str | None = None) -> None:
        """Count `n` input records left out, by reason (written to the meta). With `prompt_id`
        (n = 1), that input joins `done_ids` once the next write (or the end) is saved, so a
        resumed run neither processes nor counts it again."""
        if not isinstance(reason, str) or not reason:
            raise ValueError("drop: the reason must be a non-empty string")
        if prompt_id is not None:
            if n != 1:
                raise ValueError("drop: one prompt_id drops one record (n = 1)")
            if prompt_id in self._skip:
                raise ValueError(f"{self.path}: prompt_id {prompt_id!r} is already done")
            self._dropped_ids.add(prompt_id)
            self._skip.add(prompt_id)
        self.dropped[reason] += n

    def count(self, name: str, n: int = 1) -> None:
        """A stage-specific counter stored in the meta's counts."""
        if name in RESERVED_COUNTS:
            raise ValueError(f"count: {name!r} is reserved ({', '.join(RESERVED_COUNTS)})")
        self.counters[name] += n

    @property
    def counts(self) -> dict:
        return {
            "records": self.records,
            "written": self.written,
            "resumed": self.resumed,
            "dropped": dict(self.dropped),
            **self.counters,
        }

    # --- leaving ------------------------------------------------------------------------------

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None and not self.complete:
                self._finish()
        finally:
            opened = self._jsonl is not None
            self._close()
            if exc_type is not None and opened and not self._sizes and not self._dropped_ids:
                for path in self._partial_files():  # nothing to resume: leave no trace
                    path.unlink(missing_ok=True)
        return False  # an exception leaves the partial for a resume and no final file

    def _close(self) -> None:
        for handle in (self._emb, self._jsonl):
            if handle is not None:
                handle.close()
        self._emb = self._jsonl = None

    def _finish(self) -> None:
        if self._broken:
            raise RuntimeError(f"{self.path}: a write failed; run again to resume")
        embeddings = self._write_embeddings() if self.dtype is not None else None
        meta = {
            **provenance(self.run["config"], self.run["seed"]),
            "kind": self.run["kind"],
            "inputs": self.run["inputs"],
            "output": {"path": self.path.name, "sha256": sha256_file(self._partial)},
            "embeddings": embeddings,
            "counts": self.counts,
        }
        write_json(self.meta_path, meta)
        os.replace(self._partial, self.path)
        _fsync_dir(self.path.parent)
        self._emb_partial.unlink(missing_ok=True)
        self._state.unlink(missing_ok=True)

    def _write_embeddings(self) -> dict:
        """(R, N_max, d) from the raw rows, through a temporary file and a rename."""
        n_max, d = max(self._sizes, default=0), self.dim or 0
        shape = (len(self._sizes), n_max, d)
        rows = sum(self._sizes)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.embeddings_path.name}.")
        os.close(fd)
        try:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=self.dtype, shape=shape)
            if rows and d:
                src = np.memmap(self._emb_partial, dtype=self.dtype, mode="r", shape=(rows, d))
                start = 0
                for i, n in enumerate(self._sizes):  # rows past n stay zero
                    out[i, :n] = src[start : start + n]
                    start += n
                del src
            out.flush()
            del out
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, self.embeddings_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return {"path": self.embeddings_path.name, "shape": list(shape), "dtype": self.dtype.name}


# --- reading ----------------------------------------------------------------------------------


def read_records(path, kind: str) -> Iterator[Record]:
    """Stream and validate a stage file; errors name the file, line, prompt_id and field."""
    path = Path(path)
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            record = parse_line(text, kind, file=path, line=number)
            if record.prompt_id in seen:
                raise RecordError(
                    f"duplicate prompt_id (first at line {seen[record.prompt_id]})",
                    field="prompt_id",
                ).at(path, number, prompt_id=record.prompt_id)
            seen[record.prompt_id] = number
            yield record


def count_lines(path) -> int:
    count = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
    return count


def read_embeddings(path) -> np.ndarray:
    """The (R, N_max, d) embeddings of a stage file, memory-mapped; row i belongs to line i."""
    emb_file = embeddings_path(path)
    if not emb_file.exists():
        raise FileNotFoundError(f"{emb_file}: no embeddings beside {path}")
    emb = np.load(emb_file, mmap_mode="r")
    lines = count_lines(path)
    if emb.ndim != 3 or emb.shape[0] != lines:
        raise ValueError(
            f"{emb_file}: shape {emb.shape}, expected ({lines}, N_max, d) for the {lines} lines "
            f"of {path}"
        )
    return emb
