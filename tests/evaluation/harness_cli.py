"""The harness's CLI driven in-process for the tests: small data files, a run's arguments, a
generator that records (or interrupts) the calls it passes on."""

from __future__ import annotations

import json

import scripted_verdicts as sv
from bench_files import write_alpaca_eval, write_mt_bench

import training.generation
from evaluation.__main__ import main as cli

MAKE_GENERATOR = training.generation.make_generator


class Interrupted(Exception):
    """Stands in for a crash or Ctrl-C in the middle of a generation."""


class RecordingGenerator:
    """Passes every call to the real backend and keeps the prompts it was given."""

    def __init__(self, inner, calls: list, fail_on_call: int | None = None):
        self.inner, self.calls, self.fail_on_call = inner, calls, fail_on_call

    def generate(self, prompts, sampling, seeds=None):
        if len(self.calls) + 1 == self.fail_on_call:
            raise Interrupted(f"call {self.fail_on_call}")
        self.calls.append(list(prompts))
        return self.inner.generate(prompts, sampling, seeds)

    def describe(self, sampling=None):
        return self.inner.describe(sampling)

    def close(self):
        self.inner.close()


def record_generation(monkeypatch, fail_on_call: int | None = None) -> list:
    """Every generator the CLI makes records its calls here; the `fail_on_call`-th call (1-based,
    counted over the whole list) raises instead, as an interruption would."""
    calls: list = []
    make = MAKE_GENERATOR  # the real one, never an earlier wrapper
    monkeypatch.setattr(
        training.generation,
        "make_generator",
        lambda *a, **kw: RecordingGenerator(make(*a, **kw), calls, fail_on_call),
    )
    return calls


def bench_data(tmp_path, monkeypatch) -> dict:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-dummy")
    return {
        "alpaca_eval": write_alpaca_eval(tmp_path / "data", sv.ROWS),
        "mt_bench": write_mt_bench(tmp_path / "data"),
        "results": tmp_path / "results",
        "absent_df_gamed": tmp_path / "no-df_gamed.csv",  # LC offline: None with the reason
    }


def run_args(data, run: str) -> list:
    return [
        "--results", data["results"], "--run", run,
        "--alpaca-eval", data["alpaca_eval"], "--mt-bench", data["mt_bench"],
    ]  # fmt: skip


def generate(data, model, run: str, *extra) -> None:
    """`generate` with 8 new tokens (`--model` may name an answers file's model with --outputs)."""
    args = ["generate", *run_args(data, run), "--model", model, "--max-new-tokens", 8, *extra]
    cli([str(a) for a in args])


def judge(data, server, run: str, *extra) -> None:
    args = ["judge", *run_args(data, run), *extra, "--judge", "openai"]
    args += ["--judge-base-url", server.url]
    args += ["--judge-model", "gpt-4-1106-preview", "--df-gamed", data["absent_df_gamed"]]
    cli([str(a) for a in args])


def read_json(path):
    return json.loads(path.read_text())


def fastchat_answers(data, run: str) -> dict:
    path = data["results"] / run / "mt_bench" / "model_answer" / f"{run}.jsonl"
    return {r["question_id"]: r for r in map(json.loads, path.read_text().splitlines())}
