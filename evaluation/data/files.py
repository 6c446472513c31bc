"""Located errors, hashing and atomic reading/writing of the benchmarks' JSON and JSONL files.

Errors mirror `training.records.RecordError` (it is a subclass): the message names the file, the row
or line, the record (`question_id 81`, `instruction 'Write a ...'`) and the field.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from selection.provenance import atomic_write_bytes
from training.records import RecordError


class BenchmarkDataError(RecordError):
    """An invalid benchmark record; `record` labels it (`question_id 81`, `instruction '...'`)."""

    def __init__(self, problem, *, field=None, record=None, file=None, line=None, unit="line"):
        self.record = record
        super().__init__(problem, field=field, file=file, line=line, unit=unit)

    def _message(self) -> str:
        where = [str(self.file)] if self.file is not None else []
        if self.line is not None:
            where.append(f"{self.unit} {self.line}")
        if self.record is not None:
            where.append(self.record)
        if self.field is not None:
            where.append(f"field {self.field!r}")
        return (", ".join(where) + ": " if where else "") + self.problem


def instruction_label(text: str, width: int = 40) -> str:
    """`instruction 'first 40 characters...'`: names an AlpacaEval record in an error."""
    short = text if len(text) <= width else text[:width] + "..."
    return f"instruction {short!r}"


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json_list(path: str | Path, hint: str) -> list:
    """A file holding one JSON list of objects; `hint` explains what was expected."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BenchmarkDataError(
            f"not one JSON document ({exc.msg} at line {exc.lineno}); expected {hint}", file=path
        ) from None
    if not isinstance(data, list):
        raise BenchmarkDataError(
            f"expected a JSON list ({hint}), got {type(data).__name__}", file=path
        )
    for row, obj in enumerate(data):
        if not isinstance(obj, dict):
            raise BenchmarkDataError(
                f"expected an object, got {type(obj).__name__}", file=path, line=row, unit="row"
            )
    return data


def read_jsonl(path: str | Path) -> list[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSONL file."""
    out = []
    with open(path, encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise BenchmarkDataError(f"not JSON ({exc.msg})", file=path, line=number) from None
            if not isinstance(obj, dict):
                raise BenchmarkDataError(
                    f"expected an object, got {type(obj).__name__}", file=path, line=number
                )
            out.append((number, obj))
    return out


def write_json_list(path: str | Path, rows: list[dict]) -> Path:
    """Atomically write a JSON list, indented by 2 as alpaca_eval's `to_json(indent=2)` does."""
    text = json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_jsonl(path: str | Path, rows: list[dict]) -> Path:
    """Atomically write one JSON object a line, as FastChat does (`json.dumps` defaults: ASCII)."""
    text = "".join(json.dumps(row) + "\n" for row in rows)
    return atomic_write_bytes(path, text.encode("utf-8"))


def require_string(obj: dict, key: str, *, empty: bool = False, **where) -> str:
    if key not in obj:
        raise BenchmarkDataError("is missing", field=key, **where)
    value = obj[key]
    if not isinstance(value, str):
        raise BenchmarkDataError(
            f"expected a string, got {type(value).__name__}", field=key, **where
        )
    if not empty and not value.strip():
        raise BenchmarkDataError("is empty", field=key, **where)
    return value


def require_strings(value, key: str, *, empty: bool = False, **where) -> tuple[str, ...]:
    """A non-empty list of strings (a conversation's turns)."""
    if not isinstance(value, list) or not value:
        raise BenchmarkDataError("expected a non-empty list of strings", field=key, **where)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise BenchmarkDataError(
                f"item {i}: expected a string, got {type(item).__name__}", field=key, **where
            )
        if not empty and not item.strip():
            raise BenchmarkDataError(f"turn {i + 1} is empty", field=key, **where)
    return tuple(value)
