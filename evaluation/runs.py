"""Where an evaluated run lives: `results/<run>/<bench>/`, and the JSON records in it.

    results/<run>/alpaca_eval/model_outputs.json              alpaca_eval's format
    results/<run>/alpaca_eval/annotations.json                alpaca_eval's format
    results/<run>/mt_bench/model_answer/<run>.jsonl           FastChat's format
    results/<run>/mt_bench/model_judgment/<judge>_single.jsonl  FastChat's format
    results/<run>/<bench>/generation.json   what produced the answers (model, backend, decoding,
                                            data path and hashes, seed, versions)
    results/<run>/<bench>/judge.json        what judged them (judge, protocol, counters, costs)
    results/<run>/<bench>/metrics.json      the metrics with both of the above, rebuilt by
                                            `python -m evaluation report` from the saved files

Every file is written atomically; none holds a credential.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from selection.provenance import write_json

RESULTS = Path("results")
GENERATION, JUDGE, METRICS = "generation.json", "judge.json", "metrics.json"
RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def check_run_name(name: str) -> str:
    if not RUN_NAME.match(name or ""):
        raise ValueError(
            f"run name {name!r}: use letters, digits and . _ + - (it names a folder and the "
            "model in alpaca_eval and FastChat files)"
        )
    return name


def default_run_name(model: str) -> str:
    """A run name from a model path or hub name (its last component, sanitised)."""
    tail = model.rstrip("/").split("/")[-1].split(":")[-1] or "model"
    return re.sub(r"[^A-Za-z0-9._+-]", "-", tail).lstrip(".-_+") or "model"


def file_stem(model: str) -> str:
    """A judge model's name as a file stem (FastChat names judgment files after the judge)."""
    return re.sub(r"[^A-Za-z0-9._+-]", "_", model)


@dataclass(frozen=True)
class RunDir:
    results: Path
    run: str
    bench: str

    @property
    def path(self) -> Path:
        return self.results / self.run / self.bench

    def file(self, name: str) -> Path:
        return self.path / name

    def read(self, name: str) -> dict:
        path = self.file(name)
        if not path.exists():
            raise FileNotFoundError(f"{path}: missing ({self._hint(name)})")
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not JSON ({error})") from None

    def write(self, name: str, record: dict) -> Path:
        return write_json(self.file(name), record)

    def has(self, name: str) -> bool:
        return self.file(name).exists()

    def _hint(self, name: str) -> str:
        step = {GENERATION: "generate", JUDGE: "judge", METRICS: "report"}.get(name, "generate")
        return f"run `python -m evaluation {step} --run {self.run} --bench {self.bench}` first"


def evaluated_runs(results: Path) -> list[RunDir]:
    """Every results/<run>/<bench> holding a judge.json, sorted by run then bench."""
    return [
        RunDir(results, p.parent.parent.name, p.parent.name)
        for p in sorted(Path(results).glob(f"*/*/{JUDGE}"))
    ]
