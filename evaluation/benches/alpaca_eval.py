"""AlpacaEval 2 in the harness: outputs in alpaca_eval's `model_outputs.json`, annotations in its
`annotations.json` (re-scorable by alpaca_eval itself), metrics from alpaca_eval's own code."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from evaluation.alpacaeval import ALPACA_EVAL_SEED, ANNOTATOR, annotate
from evaluation.alpacaeval import metrics as alpaca_eval_metrics
from evaluation.answering import answer_alpaca_eval
from evaluation.benches.base import Answering, Bench, Judging
from evaluation.data.alpaca import (
    BASELINE_FILE,
    AlpacaEval,
    check_outputs_match,
    load_alpaca_eval,
    read_annotations,
    read_model_outputs,
    write_annotations,
    write_model_outputs,
)
from evaluation.data.files import sha256_file
from evaluation.decoding import alpaca_eval_decoding
from evaluation.progress import Progress
from evaluation.runs import RunDir

ANNOTATIONS = "annotations.json"


class AlpacaEvalBench(Bench):
    name = "alpaca_eval"
    outputs_name = "model_outputs.json"

    def load(self, path, limit):
        from training.models import cache_dir

        bench = load_alpaca_eval(path, cache_dir=cache_dir() / "alpaca_eval")
        if limit is not None:
            # the first rows: alpaca_eval's LC identifies an instruction by its row position
            bench = replace(bench, baseline=bench.baseline[:limit])
        return bench

    def data_record(self, data: AlpacaEval, path, limit):
        return {
            "path": str(data.path.resolve()),
            "sha256": {BASELINE_FILE: data.sha256},
            "n_items": len(data),
            "limit": limit,
        }

    def answer(self, generator, data: AlpacaEval, run: RunDir, answering: Answering) -> dict:
        decoding = alpaca_eval_decoding(
            answering.preset or "alpaca_eval",
            temperature=answering.temperature,
            top_p=answering.top_p,
            max_new_tokens=answering.max_new_tokens,
        )
        out = self.outputs_path(run)
        fingerprint = {
            "generator": generator.describe(decoding.sampling(answering.seed)),
            "data": data.sha256,
        }
        progress = Progress(out, fingerprint)
        outputs = answer_alpaca_eval(generator, data, run.run, decoding, answering.seed, progress)
        write_model_outputs(out, outputs)
        progress.finish()
        return {
            "decoding": decoding.to_dict(),
            "n_empty": sum(not o.output for o in outputs),
        }

    def import_outputs(self, source: Path, data: AlpacaEval, run: RunDir) -> None:
        outputs = read_model_outputs(source)
        check_outputs_match(data, outputs, file=source)
        self.outputs_path(run).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, self.outputs_path(run))

    def judge(self, judge, data: AlpacaEval, run: RunDir, judging: Judging) -> dict:
        outputs = read_model_outputs(self.outputs_path(run))
        check_outputs_match(data, outputs, file=self.outputs_path(run))
        rows = annotate(judge, data, outputs)
        write_annotations(run.file(ANNOTATIONS), rows)
        parsers: dict[str, int] = {}
        for row in rows:
            parsers[row["preference_parser"]] = parsers.get(row["preference_parser"], 0) + 1
        return {
            "protocol": ANNOTATOR,
            "order_seed": ALPACA_EVAL_SEED,
            "preference_parsers": parsers,  # logprobs, or text for a judge without log-probs
            "n_failed": sum(row["preference"] is None for row in rows),
        }

    def metrics(self, run: RunDir, generation: dict, judging: dict, df_gamed=None) -> dict:
        annotations = read_annotations(run.file(ANNOTATIONS))
        out = alpaca_eval_metrics(annotations, df_gamed)
        out["df_gamed"] = None
        if df_gamed is not None:  # a missing file: LC is None and `lc_unavailable` says why
            present = Path(df_gamed).is_file()
            out["df_gamed"] = {
                "path": str(Path(df_gamed).resolve()),
                "sha256": sha256_file(df_gamed) if present else None,
            }
        return out
