"""One benchmark behind the harness's three steps: answer, judge, score.

A `Bench` loads its data (from the user's files; a `limit` keeps the first items, and the run
says so), has a model answer it, has a judge grade the answers, and computes its metrics from
the saved judgments alone. `evaluation.benches.BENCHES` maps the name to the instance; the CLI's
choices derive from it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from evaluation.runs import RunDir


@dataclass(frozen=True)
class Answering:
    """How answers are produced (the CLI's generation options)."""

    seed: int = 0
    preset: str | None = None  # AlpacaEval decoding preset (None: the default)
    temperature: float | None = None  # overrides (AlpacaEval); MT-bench fixes its own
    top_p: float | None = None
    max_new_tokens: int | None = None  # None: the benchmark's own


@dataclass(frozen=True)
class Judging:
    """How answers are judged (the CLI's judge options)."""

    retries: int = 2  # MT-bench: an unparseable verdict is asked again this many times
    df_gamed: Path | None = None  # AlpacaEval LC: alpaca_eval's df_gamed.csv, for offline runs
    pairwise_baseline: str | None = None  # MT-bench: also grade pairwise against this run
    judge_max_tokens: int | None = None  # MT-bench judge replies; None: FastChat's 2048

    def __post_init__(self):
        if self.judge_max_tokens is not None and self.judge_max_tokens < 1:
            raise ValueError(f"judge_max_tokens must be >= 1, got {self.judge_max_tokens}")


class Bench(ABC):
    name: ClassVar[str]
    outputs_name: ClassVar[str]  # the answers file, relative to the run's bench folder

    @abstractmethod
    def load(self, path: str | Path | None, limit: int | None):
        """The benchmark data, its first `limit` items when given."""

    @abstractmethod
    def data_record(self, data, path, limit: int | None) -> dict:
        """{path, sha256: {file: hex}, n_items, limit} (+ what a report needs of the data)."""

    @abstractmethod
    def answer(self, generator, data, run: RunDir, answering: Answering) -> dict:
        """Generate and write the answers file; returns the decoding record for generation.json."""

    @abstractmethod
    def import_outputs(self, source: Path, data, run: RunDir) -> None:
        """Check an answers file made elsewhere (official tools) and copy it into the run."""

    @abstractmethod
    def judge(self, judge, data, run: RunDir, judging: Judging) -> dict:
        """Grade the run's answers, write the judgments; returns the record for judge.json."""

    @abstractmethod
    def metrics(self, run: RunDir, generation: dict, judging: dict, df_gamed=None) -> dict:
        """The metrics from the saved judgments alone (no judge, no data folder)."""

    def outputs_path(self, run: RunDir) -> Path:
        return run.file(self.outputs_name.format(run=run.run))

    def default_judge_model(self, backend: str) -> str:
        return JUDGE_DEFAULTS[backend].get(self.name, JUDGE_DEFAULTS[backend]["*"])


# judge backend -> bench -> model ("*": any bench); each benchmark's official judge for openai
JUDGE_DEFAULTS = {
    "openai": {"alpaca_eval": "gpt-4-1106-preview", "mt_bench": "gpt-4", "*": "gpt-4"},
    "transformers": {"*": "builtin:smollm2-135m-instruct"},
}
