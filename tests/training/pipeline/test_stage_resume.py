"""Every stage interrupted after its first write and run again: the records already written are
not computed again (the model/scorer/strategy calls are counted), the finished file is byte for
byte an uninterrupted run's and its meta counts the same; a finished stage run again does
nothing; another config into the same file is refused."""

from __future__ import annotations

import importlib
import os

import numpy as np
import pytest
from pipeline_helpers import N_SAMPLES, read_meta, small_recipe

from training.stagefile import StageMismatchError, partial_paths
from training.stages import run_stage


class Interrupted(Exception):
    """Stands for a crash or Ctrl-C in the middle of a stage."""


class Calls:
    """Counts the units (prompts, pools, groups) a stage sends to its model; raises on the call
    after `stop_after` calls, or on any call when `stop_after` is 0 and `forbid` is set."""

    def __init__(self, stop_after: int | None = None):
        self.stop_after, self.calls, self.units = stop_after, 0, 0

    def __call__(self, units: int) -> None:
        if self.stop_after is not None and self.calls >= self.stop_after:
            raise Interrupted
        self.calls += 1
        self.units += units


class Wrapped:
    def __init__(self, inner, method: str, units, calls: Calls):
        self.inner, self.method, self.units, self.calls = inner, method, units, calls

    def __getattr__(self, name):
        attr = getattr(self.inner, name)
        if name != self.method:
            return attr

        def counted(*args, **kwargs):
            self.calls(self.units(*args))
            return attr(*args, **kwargs)

        return counted


def _wrap_factory(module, name, method, units):
    real = getattr(module, name)
    return lambda calls: (
        lambda *a, **kw: Wrapped(real(*a, **kw), method, units, calls)  # a counted model
    )


def _wrap_function(module, name, units):
    real = getattr(module, name)

    def make(calls):
        def counted(*args, **kwargs):
            calls(units(*args))
            return real(*args, **kwargs)

        return counted

    return make


def _module(name):
    return importlib.import_module(f"training.stages.{name}")


# stage -> (module, attribute replaced by a counted one, how to count, chunk constant, file,
#           an override that changes the stage's config)
STAGES = {
    "generate": (
        "generate",
        "make_generator",
        ("generate", lambda prompts, sampling, seeds: len(prompts)),
        "PROMPTS_PER_WRITE",
        "pools.jsonl",
        ["--generate.temperature", "0.5"],
    ),
    "score": (
        "score",
        "make_stage_scorer",
        ("score", lambda prompts, responses: len(responses) // N_SAMPLES),
        "POOLS_PER_WRITE",
        "scored.jsonl",
        ["--score.options", "{target: 5}"],
    ),
    "embed": (
        "embed",
        "make_stage_embedder",
        ("embed", lambda prompts, responses: len(responses) // N_SAMPLES),
        "POOLS_PER_WRITE",
        "embedded.jsonl",
        ["--model.dtype", "float64"],
    ),
    "select": (
        "select",
        "_select_rows",
        lambda cfg, pools, emb, kept, order: len(order),
        "POOLS_PER_BATCH",
        "groups.jsonl",
        ["--select.strategy", "ampo_optselect"],
    ),
    "ref-logps": (
        "ref_logps",
        "sequence_logps",
        lambda model, batch: batch.shape[0],
        None,  # chunks of ref_logps.batch_size (4 in the small recipe)
        "groups.ref.jsonl",
        ["--train.max_length", "128"],
    ),
}


def _counted(monkeypatch, stage: str, calls: Calls) -> None:
    module_name, attr, units, chunk, *_ = STAGES[stage]
    module = _module(module_name)
    if isinstance(units, tuple):
        make = _wrap_factory(module, attr, *units)
    else:
        make = _wrap_function(module, attr, units)
    monkeypatch.setattr(module, attr, make(calls))
    if chunk is not None:
        monkeypatch.setattr(module, chunk, 4)


def _stamp(path):
    files = sorted(p for p in path.parent.iterdir() if p.is_file())
    return [(p.name, os.stat(p).st_mtime_ns, p.read_bytes()) for p in files]


@pytest.mark.parametrize("stage", list(STAGES))
def test_an_interrupted_stage_resumes_to_the_uninterrupted_file(stage, tiny_run, tmp_path):
    *_, name, other = STAGES[stage]
    recipe = small_recipe(tiny_run)  # reads the finished run's inputs; writes under tmp_path
    reference = tiny_run / name
    total = read_meta(reference)["counts"]["records"]
    out = tmp_path / name

    with pytest.MonkeyPatch.context() as mp:  # crash on the model's second call
        first = Calls(stop_after=1)
        _counted(mp, stage, first)
        with pytest.raises(Interrupted):
            run_stage(stage, recipe, out=out)
    assert not out.exists() and partial_paths(out)[0].exists()  # nothing final, a partial
    written_first = partial_paths(out)[0].read_text().count("\n")
    assert written_first == first.units > 0

    with pytest.MonkeyPatch.context() as mp:  # the resumed run computes only the rest
        rest = Calls()
        _counted(mp, stage, rest)
        run_stage(stage, recipe, out=out)
    assert rest.units == total - written_first
    assert out.read_bytes() == reference.read_bytes()
    meta, ref_meta = read_meta(out), read_meta(reference)
    assert meta["counts"] == {**ref_meta["counts"], "written": rest.units, "resumed": first.units}
    if stage == "embed":  # the vectors of a batch depend on its padding, by float rounding:
        vectors = np.load(out.with_suffix(".emb.npy"))  # equal to a run cut the same way
        np.testing.assert_allclose(vectors, np.load(reference.with_suffix(".emb.npy")), atol=1e-6)
        with pytest.MonkeyPatch.context() as mp:
            _counted(mp, stage, Calls())
            same_cut = run_stage(stage, recipe, out=tmp_path / "uninterrupted" / name)
        np.testing.assert_array_equal(vectors, np.load(same_cut.with_suffix(".emb.npy")))
    assert not any(p.exists() for p in partial_paths(out))

    before = _stamp(out)
    with pytest.MonkeyPatch.context() as mp:  # finished: run again, nothing is computed
        again = Calls(stop_after=0)
        _counted(mp, stage, again)
        assert run_stage(stage, recipe, out=out) == out
    assert again.calls == 0 and _stamp(out) == before

    changed = small_recipe(tiny_run, *other)
    with pytest.raises(StageMismatchError, match="written by a different run") as err:
        run_stage(stage, changed, out=out)
    assert str(out) in str(err.value) and "Delete" in str(err.value)
    assert _stamp(out) == before


def test_a_partial_of_another_config_is_refused_and_kept(tiny_run, tmp_path, monkeypatch):
    out = tmp_path / "groups.jsonl"
    with pytest.MonkeyPatch.context() as mp:
        _counted(mp, "select", Calls(stop_after=1))
        with pytest.raises(Interrupted):
            run_stage("select", small_recipe(tiny_run), out=out)
    partial = partial_paths(out)[0]
    kept = partial.read_bytes()
    with pytest.raises(StageMismatchError, match=r"an unfinished run.*config 'select'"):
        run_stage("select", small_recipe(tiny_run, "--select.k", "3"), out=out)
    assert partial.read_bytes() == kept and not out.exists()
