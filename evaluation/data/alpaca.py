"""AlpacaEval 2: the 805 instructions with the `gpt4_1106_preview` baseline, and alpaca_eval's files.

Files needed: `alpaca_eval_gpt4_baseline.json` (805 records `dataset`, `instruction`, `output`, `generator`,
in the canonical order), from the Hugging Face dataset `tatsu-lab/alpaca_eval`, or byte-identical
`results/gpt4_1106_preview/model_outputs.json` of the GitHub repository tatsu-lab/alpaca_eval. One line:

    huggingface-cli download tatsu-lab/alpaca_eval alpaca_eval_gpt4_baseline.json --repo-type dataset --local-dir DIR

Order matters: alpaca_eval's length-controlled win rate identifies an instruction by its row position
(`df_annotations.reset_index()["index"]`, 0..804), so model outputs and annotations keep this order.

Formats (alpaca_eval 0.6.6):
- `model_outputs.json`: a JSON list of `{"dataset", "instruction", "output", "generator"}`.
- `annotations.json` (written by `alpaca_eval.main.evaluate`, baseline as output 1): a JSON list of rows
  with `ANNOTATION_KEYS` and, optionally, `ANNOTATION_OPTIONAL_KEYS`; `preference` is in [1, 2]
  (1: output_1 preferred, 2: output_2 preferred, 1.5: draw) or null when the judge failed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from evaluation.data.files import (
    BenchmarkDataError,
    instruction_label,
    read_json_list,
    require_string,
    sha256_file,
    write_json_list,
)

BASELINE_FILE = "alpaca_eval_gpt4_baseline.json"
HUB_DATASET = "tatsu-lab/alpaca_eval"
BASELINE_GENERATOR = "gpt4_1106_preview"
N_INSTRUCTIONS = 805

OUTPUT_KEYS = ("dataset", "instruction", "output", "generator")
ANNOTATION_KEYS = (
    "instruction",
    "output_1",
    "generator_1",
    "output_2",
    "generator_2",
    "annotator",
    "preference",
)
ANNOTATION_OPTIONAL_KEYS = (
    "dataset",
    "preference_price_per_example",
    "preference_time_per_example",
    "preference_version",
    "preference_date",
    "preference_raw_completion",
)
PREFERENCE_RANGE = (1.0, 2.0)  # 1: output_1 (the baseline) preferred; 2: output_2 (the model)

_OUTPUTS_HINT = (
    "alpaca_eval model outputs: a JSON list of {dataset, instruction, output, generator}"
)
_ANNOTATIONS_HINT = (
    "alpaca_eval annotations: a JSON list of {instruction, output_1, ..., preference}"
)


@dataclass(frozen=True)
class ModelOutput:
    """One row of alpaca_eval's `model_outputs.json`."""

    dataset: str
    instruction: str
    output: str
    generator: str

    def to_dict(self) -> dict:
        return {key: getattr(self, key) for key in OUTPUT_KEYS}


@dataclass(frozen=True)
class AlpacaEval:
    """The benchmark: instructions in canonical order with the baseline's outputs."""

    baseline: tuple[ModelOutput, ...]
    path: Path
    sha256: str

    @property
    def instructions(self) -> tuple[str, ...]:
        return tuple(r.instruction for r in self.baseline)

    @property
    def datasets(self) -> tuple[str, ...]:
        return tuple(r.dataset for r in self.baseline)

    def __len__(self) -> int:
        return len(self.baseline)


def _parse_output(obj: dict, *, file, row: int, empty_output: bool) -> ModelOutput:
    where = {"file": file, "line": row, "unit": "row"}
    instruction = require_string(obj, "instruction", **where)
    where["record"] = instruction_label(instruction)
    return ModelOutput(
        dataset=require_string(obj, "dataset", **where),
        instruction=instruction,
        output=require_string(obj, "output", empty=empty_output, **where),
        generator=require_string(obj, "generator", **where),
    )


def read_model_outputs(path: str | Path, empty_output: bool = True) -> list[ModelOutput]:
    """Rows of a `model_outputs.json`; a missing key is an error naming its row. A model may
    answer with nothing (EOS first): an empty output is read as such unless `empty_output=False`
    (the benchmark's baseline file, where it means a broken file)."""
    rows = read_json_list(path, _OUTPUTS_HINT)
    if rows and "question_id" in rows[0]:
        raise BenchmarkDataError(
            "holds MT-bench records (question_id), not AlpacaEval outputs", file=path
        )
    return [
        _parse_output(obj, file=path, row=row, empty_output=empty_output)
        for row, obj in enumerate(rows)
    ]


def write_model_outputs(path: str | Path, outputs) -> Path:
    """Atomically write `model_outputs.json` in alpaca_eval's format (keys in `OUTPUT_KEYS` order)."""
    return write_json_list(path, [o.to_dict() for o in outputs])


def download_baseline(directory: str | Path) -> Path:
    """Fetch `alpaca_eval_gpt4_baseline.json` from the hub into `directory` (needs network)."""
    from huggingface_hub import hf_hub_download

    return Path(
        hf_hub_download(HUB_DATASET, BASELINE_FILE, repo_type="dataset", local_dir=str(directory))
    )


def load_alpaca_eval(path: str | Path | None = None, *, cache_dir: str | Path = ".") -> AlpacaEval:
    """The benchmark from a local file (or a folder holding `BASELINE_FILE`); `None` downloads it.

    Checks: every row complete, instructions distinct, one generator for the whole file.
    """
    if path is None:
        path = download_baseline(cache_dir)
    path = Path(path)
    if path.is_dir():
        path = path / BASELINE_FILE
    rows = read_model_outputs(path, empty_output=False)
    if not rows:
        raise BenchmarkDataError("holds no instructions", file=path)
    seen: dict[str, int] = {}
    for row, record in enumerate(rows):
        if record.instruction in seen:
            raise BenchmarkDataError(
                f"duplicate instruction (first at row {seen[record.instruction]})",
                file=path,
                line=row,
                unit="row",
                record=instruction_label(record.instruction),
                field="instruction",
            )
        seen[record.instruction] = row
        if record.generator != rows[0].generator:
            raise BenchmarkDataError(
                f"generator {record.generator!r} differs from row 0's {rows[0].generator!r}",
                file=path,
                line=row,
                unit="row",
                record=instruction_label(record.instruction),
                field="generator",
            )
    return AlpacaEval(baseline=tuple(rows), path=path, sha256=sha256_file(path))


def check_outputs_match(bench: AlpacaEval, outputs, *, file=None) -> None:
    """`outputs` answer the benchmark's instructions one for one, in order, with one generator.

    Raises on the first row whose instruction (or dataset) differs, naming the row and both texts.
    """
    outputs = list(outputs)
    for row, (want, got) in enumerate(zip(bench.baseline, outputs, strict=False)):
        where = {
            "file": file,
            "line": row,
            "unit": "row",
            "record": instruction_label(got.instruction),
        }
        if got.instruction != want.instruction:
            raise BenchmarkDataError(
                f"instruction out of order or unknown: the benchmark's row {row} is "
                f"{instruction_label(want.instruction)}",
                field="instruction",
                **where,
            )
        if got.dataset != want.dataset:
            raise BenchmarkDataError(
                f"dataset {got.dataset!r}, the benchmark says {want.dataset!r}",
                field="dataset",
                **where,
            )
        if got.generator != outputs[0].generator:
            raise BenchmarkDataError(
                f"generator {got.generator!r} differs from row 0's {outputs[0].generator!r}",
                field="generator",
                **where,
            )
    if len(outputs) != len(bench):
        raise BenchmarkDataError(
            f"{len(outputs)} outputs for {len(bench)} instructions"
            + (f"; first missing is row {len(outputs)}" if len(outputs) < len(bench) else ""),
            file=file,
        )


def _check_annotation(obj: dict, *, file, row: int) -> dict:
    where = {"file": file, "line": row, "unit": "row"}
    instruction = require_string(obj, "instruction", **where)
    where["record"] = instruction_label(instruction)
    for key in ANNOTATION_KEYS[1:-1]:
        require_string(obj, key, empty=key.startswith("output"), **where)
    if "preference" not in obj:
        raise BenchmarkDataError("is missing", field="preference", **where)
    pref = obj["preference"]
    if pref is not None:
        low, high = PREFERENCE_RANGE
        if isinstance(pref, bool) or not isinstance(pref, (int, float)) or math.isnan(pref):
            raise BenchmarkDataError(
                f"expected a number or null, got {pref!r}", field="preference", **where
            )
        if not low <= pref <= high:
            raise BenchmarkDataError(
                f"{pref} is outside [{low}, {high}]", field="preference", **where
            )
    return obj


def read_annotations(path: str | Path) -> list[dict]:
    """Rows of alpaca_eval's `annotations.json`, validated, every key kept (row order preserved)."""
    rows = read_json_list(path, _ANNOTATIONS_HINT)
    return [_check_annotation(obj, file=path, row=row) for row, obj in enumerate(rows)]


def write_annotations(path: str | Path, rows) -> Path:
    """Atomically write annotation rows (validated first) as alpaca_eval's `annotations.json`."""
    rows = [_check_annotation(dict(r), file=path, row=i) for i, r in enumerate(rows)]
    return write_json_list(path, rows)
