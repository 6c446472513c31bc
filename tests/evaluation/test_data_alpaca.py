"""AlpacaEval data: small files in alpaca_eval's formats (never the real ones under ../shared)."""

import json

import pytest
from bench_files import BASELINE, write_alpaca_eval

from evaluation.data.alpaca import (
    ANNOTATION_KEYS,
    OUTPUT_KEYS,
    ModelOutput,
    check_outputs_match,
    load_alpaca_eval,
    read_annotations,
    read_model_outputs,
    write_annotations,
    write_model_outputs,
)
from evaluation.data.files import BenchmarkDataError


def _write(path, rows):
    path.write_text(json.dumps(rows, indent=2))
    return path


@pytest.fixture
def bench(tmp_path):
    return load_alpaca_eval(write_alpaca_eval(tmp_path))


def _model(rows=BASELINE, generator="ampo"):
    return [
        ModelOutput(r["dataset"], r["instruction"], "ours: " + r["output"], generator) for r in rows
    ]


def test_load_keeps_order_and_hash(bench, tmp_path):
    assert bench.instructions == tuple(r["instruction"] for r in BASELINE)
    assert bench.datasets == ("helpful_base", "koala", "vicuna")
    assert len(bench.sha256) == 64
    assert load_alpaca_eval(tmp_path).sha256 == bench.sha256  # a folder holding the file


def test_model_outputs_round_trip_in_alpaca_eval_format(tmp_path):
    path = write_model_outputs(tmp_path / "model_outputs.json", _model())
    rows = json.loads(path.read_text())
    assert [list(r) for r in rows] == [list(OUTPUT_KEYS)] * 3
    assert read_model_outputs(path) == _model()
    # a file written by alpaca_eval (pandas to_json, extra column) reads too
    extra = [dict(r, price=0.0) for r in BASELINE]
    assert [o.instruction for o in read_model_outputs(_write(tmp_path / "x.json", extra))] == list(
        load_alpaca_eval(_write(tmp_path / "b.json", BASELINE)).instructions
    )


def test_matching_outputs_pass(bench):
    check_outputs_match(bench, _model())


def test_first_out_of_order_row_is_named(bench):
    swapped = _model([BASELINE[0], BASELINE[2], BASELINE[1]])
    with pytest.raises(BenchmarkDataError, match=r"f\.json, row 1, instruction 'Write a haiku"):
        check_outputs_match(bench, swapped, file="f.json")


def test_last_row_out_of_order_is_caught(bench):
    rows = [*BASELINE[:2], dict(BASELINE[2], instruction="Another task.")]
    with pytest.raises(BenchmarkDataError, match=r"row 2, .*out of order"):
        check_outputs_match(bench, _model(rows))


def test_missing_and_extra_outputs(bench):
    with pytest.raises(
        BenchmarkDataError, match="2 outputs for 3 instructions; first missing is row 2"
    ):
        check_outputs_match(bench, _model(BASELINE[:2]))
    with pytest.raises(BenchmarkDataError, match="4 outputs for 3"):
        check_outputs_match(bench, _model([*BASELINE, BASELINE[0]]))


def test_mixed_generators_rejected(bench):
    outputs = _model()
    outputs[2] = ModelOutput(*BASELINE[2].values())
    with pytest.raises(BenchmarkDataError, match=r"row 2.*field 'generator'"):
        check_outputs_match(bench, outputs)


def test_empty_output_is_a_models_answer_but_a_broken_baseline(tmp_path):
    rows = [dict(BASELINE[0]), dict(BASELINE[1], output="  ")]
    path = _write(tmp_path / "o.json", rows)
    assert read_model_outputs(path)[1].output == "  "
    with pytest.raises(
        BenchmarkDataError, match=r"row 1, instruction 'Explain tides\.', field 'output': is empty"
    ):
        load_alpaca_eval(path)


def test_duplicate_instruction_in_benchmark(tmp_path):
    with pytest.raises(
        BenchmarkDataError, match=r"row 2.*duplicate instruction \(first at row 0\)"
    ):
        load_alpaca_eval(_write(tmp_path / "b.json", [*BASELINE[:2], BASELINE[0]]))


def test_mt_bench_file_is_rejected(tmp_path):
    jsonl = tmp_path / "answers.jsonl"
    jsonl.write_text('{"question_id": 81, "choices": []}\n{"question_id": 82, "choices": []}\n')
    with pytest.raises(BenchmarkDataError, match="not one JSON document"):
        read_model_outputs(jsonl)
    with pytest.raises(BenchmarkDataError, match="MT-bench records"):
        read_model_outputs(_write(tmp_path / "q.json", [{"question_id": 81}]))


ANNOTATION = {  # a row as alpaca_eval 0.6.6 `evaluate` writes it (baseline is output_1)
    "dataset": "koala",
    "instruction": "Explain tides.",
    "output_1": "The Moon pulls water.",
    "generator_1": "gpt4_1106_preview",
    "output_2": "ours",
    "generator_2": "ampo",
    "annotator": "weighted_alpaca_eval_gpt4_turbo",
    "preference": 1.73,
    "preference_price_per_example": 0.01,
    "preference_time_per_example": 0.8,
    "preference_raw_completion": {"choices": []},
}


def test_annotations_round_trip(tmp_path):
    rows = [ANNOTATION, dict(ANNOTATION, preference=None)]
    path = write_annotations(tmp_path / "annotations.json", rows)
    assert read_annotations(path) == rows
    assert set(ANNOTATION_KEYS) <= set(json.loads(path.read_text())[0])


@pytest.mark.parametrize(
    "change, message",
    [
        ({"preference": 2.5}, "outside"),
        ({"preference": "1"}, "number or null"),
        ({"generator_2": ""}, "empty"),
    ],
)
def test_bad_annotation_names_row_and_field(tmp_path, change, message):
    rows = [ANNOTATION, dict(ANNOTATION, **change)]
    with pytest.raises(
        BenchmarkDataError, match=f"row 1, instruction 'Explain tides.', field .*{message}"
    ):
        read_annotations(_write(tmp_path / "a.json", rows))


def test_files_move_both_ways_with_alpaca_eval(tmp_path):
    """alpaca_eval reads what we write, and we read what it writes (pandas `to_json(indent=2)`,
    which escapes '/' and writes a failed judgment's NaN preference as null)."""
    utils = pytest.importorskip("alpaca_eval.utils")
    ours = write_model_outputs(tmp_path / "model_outputs.json", _model())
    df = utils.load_or_convert_to_dataframe(str(ours))
    assert list(df.columns) == list(OUTPUT_KEYS) and list(df["instruction"]) == [
        r["instruction"] for r in BASELINE
    ]
    theirs = tmp_path / "theirs.json"
    df.assign(output="a/b").to_json(theirs, orient="records", indent=2)
    assert [o.output for o in read_model_outputs(theirs)] == ["a/b"] * 3
    rows = utils.convert_to_dataframe([ANNOTATION, dict(ANNOTATION, preference=float("nan"))])
    rows.to_json(tmp_path / "annotations.json", orient="records", indent=2)
    back = read_annotations(tmp_path / "annotations.json")
    assert [r["preference"] for r in back] == [1.73, None]
