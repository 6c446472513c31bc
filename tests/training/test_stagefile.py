"""The stage writer: a crash loses at most the records in flight, a resumed run ends byte for byte
where an uninterrupted one does (embeddings aligned), the final path only ever holds a finished
file, the meta says what made it, and a different run never mixes into it."""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pytest

from training.records import GroupRecord, PoolRecord, RecordError
from training.stagefile import (
    StageMismatchError,
    StageOutput,
    embeddings_path,
    meta_path,
    partial_paths,
    read_embeddings,
    read_records,
)

D = 3  # embedding width
CONFIG = {"n_pool": 4, "temperature": 0.8, "batch_size": 2}


class Crash(Exception):
    pass


def pools(n: int = 9) -> list[PoolRecord]:
    """Pools of 1..4 responses, so N_max padding and per-record row counts both matter."""
    return [
        PoolRecord(f"p{i}", f"prompt {i} é", [f"r{i}.{j}" for j in range(i % 4 + 1)], None)
        for i in range(n)
    ]


def emb(record: PoolRecord) -> np.ndarray:
    i = int(record.prompt_id[1:])
    n = len(record.responses)
    return (np.arange(n * D, dtype=np.float32).reshape(n, D) + 10 * i + 1) / 8  # exact in float16


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text(
        "".join(json.dumps({"prompt_id": r.prompt_id, "prompt": r.prompt}) + "\n" for r in pools())
    )
    return path


def stage(path, source, config=CONFIG, **kw) -> StageOutput:
    kw.setdefault("embeddings", "float16")
    return StageOutput(path, kind="pool", config=config, seed=7, inputs=[source], **kw)


def run(path, source, records, batch=2, **kw) -> StageOutput:
    """A stage loop: skip what is done, write in batches (with embeddings if configured)."""
    with stage(path, source, **kw) as out:
        todo = [r for r in records if r.prompt_id not in out.done_ids]
        for s in range(0, len(todo), batch):
            chunk = todo[s : s + batch]
            out.write(chunk, embeddings=[emb(r) for r in chunk] if out.dtype else None)
    return out


@pytest.fixture
def reference(tmp_path_factory, source):
    """The files of an uninterrupted run."""
    path = tmp_path_factory.mktemp("reference") / "pools.jsonl"
    run(path, source, pools())
    return path


def test_an_uninterrupted_run_writes_the_jsonl_the_embeddings_and_the_meta(reference, source):
    records = list(read_records(reference, "pool"))
    assert records == pools()
    e = read_embeddings(reference)
    assert e.shape == (9, 4, D) and e.dtype == np.float16  # (R, N_max, d)
    for i, r in enumerate(records):
        n = len(r.responses)
        np.testing.assert_array_equal(e[i, :n], emb(r))
        assert not e[i, n:].any()  # padding rows are zero
    meta = json.loads(meta_path(reference).read_text())
    assert meta["config"] == CONFIG and meta["seed"] == 7 and meta["kind"] == "pool"
    assert meta["inputs"] == [
        {
            "path": str(source),
            "bytes": source.stat().st_size,
            "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        }
    ]
    assert meta["counts"] == {"records": 9, "written": 9, "resumed": 0, "dropped": {}}
    assert meta["output"]["sha256"] == hashlib.sha256(reference.read_bytes()).hexdigest()
    assert meta["embeddings"] == {"path": "pools.emb.npy", "shape": [9, 4, D], "dtype": "float16"}
    assert meta["versions"]["numpy"] and "transformers" in meta["versions"]
    assert sorted(p.name for p in reference.parent.iterdir()) == [
        "pools.emb.npy",
        "pools.jsonl",
        "pools.meta.json",
    ]


def test_a_crash_and_a_torn_line_resume_to_the_same_bytes(tmp_path, source, reference):
    path = tmp_path / "pools.jsonl"
    lines, rows, state = partial_paths(path)
    records = pools()
    with pytest.raises(Crash), stage(path, source) as out:
        out.write(records[:2], embeddings=[emb(r) for r in records[:2]])
        out.write(records[2:5], embeddings=[emb(r) for r in records[2:5]])
        assert not path.exists() and lines.exists()  # the final path never holds a partial file
        raise Crash
    assert not path.exists() and not meta_path(path).exists()
    assert not embeddings_path(path).exists()
    # the record in flight when the process died: its rows reached the disk, its line half did
    torn = records[5]
    with open(rows, "ab") as handle:
        handle.write(emb(torn).astype("<f2").tobytes())
    with open(lines, "ab") as handle:
        handle.write(b'{"prompt_id":"p5","prompt":"pro')

    with stage(path, source) as out:
        assert out.done_ids == {"p0", "p1", "p2", "p3", "p4"} and out.resumed == 5
        todo = [r for r in records if r.prompt_id not in out.done_ids]
        out.write(todo, embeddings=[emb(r) for r in todo])
        out.drop("empty prompt", 2)
        out.count("tokens", 40)
    assert path.read_bytes() == reference.read_bytes()
    np.testing.assert_array_equal(read_embeddings(path), read_embeddings(reference))
    meta = json.loads(meta_path(path).read_text())
    assert meta["counts"] == {
        "records": 9,
        "written": 4,
        "resumed": 5,
        "dropped": {"empty prompt": 2},
        "tokens": 40,
    }
    assert not any(p.exists() for p in (lines, rows, state))


def test_a_record_whose_embedding_rows_were_cut_is_written_again(tmp_path, source, reference):
    path = tmp_path / "pools.jsonl"
    records = pools()
    with pytest.raises(Crash), stage(path, source) as out:
        out.write(records[:3], embeddings=[emb(r) for r in records[:3]])
        out.write(records[3:4], embeddings=[emb(records[3])])
        raise Crash
    rows = partial_paths(path)[1]
    # the last row of p3 lost (a disk that kept less): its write is done again, whole
    with open(rows, "r+b") as handle:
        handle.truncate(rows.stat().st_size - D * 2)
    out = run(path, source, records)
    assert out.resumed == 3 and out.written == 6
    assert path.read_bytes() == reference.read_bytes()
    np.testing.assert_array_equal(read_embeddings(path), read_embeddings(reference))


def test_ctrl_c_leaves_the_partial_and_no_final_file(tmp_path, source):
    path = tmp_path / "pools.jsonl"
    with pytest.raises(KeyboardInterrupt), stage(path, source, embeddings=None) as out:
        out.write(pools(1))
        raise KeyboardInterrupt
    assert not path.exists() and partial_paths(path)[0].read_text().count("\n") == 1


def test_a_finished_output_is_skipped_by_an_identical_run(reference, source):
    before = {p.name: p.read_bytes() for p in reference.parent.iterdir()}
    with stage(reference, source) as out:
        assert out.complete and out.done_ids == {r.prompt_id for r in pools()}
        with pytest.raises(RuntimeError, match="already finished"):
            out.write(pools()[:1], embeddings=[emb(pools()[0])])
    assert {p.name: p.read_bytes() for p in reference.parent.iterdir()} == before


@pytest.mark.parametrize(
    "change, said",
    [
        ({"config": {**CONFIG, "n_pool": 8}}, "config 'n_pool' 4 on disk, 8 now"),
        (
            {"config": {"n_pool": 4, "temperature": 0.8}},
            "config 'batch_size' 2 on disk, '<absent>' now",
        ),
        ({"seed": 8}, "seed 7 on disk, 8 now"),
        ({"embeddings": "float32"}, "embeddings 'float16' on disk, 'float32' now"),
        ({"source": "other"}, "input files differ"),
    ],
)
@pytest.mark.parametrize("finished", [True, False])
def test_a_different_run_is_never_mixed_in(change, said, finished, tmp_path, source):
    path = tmp_path / "pools.jsonl"
    if finished:
        run(path, source, pools(3))
    else:
        with pytest.raises(Crash), stage(path, source) as out:
            out.write(pools(1), embeddings=[emb(pools(1)[0])])
            raise Crash
    if change.get("source"):
        source.write_text(source.read_text() + "\n")
    kw = {"seed": change.get("seed", 7), "embeddings": change.get("embeddings", "float16")}
    new = StageOutput(path, kind="pool", config=change.get("config", CONFIG), inputs=[source], **kw)
    with pytest.raises(StageMismatchError) as caught:
        new.__enter__()
    message = str(caught.value)
    assert said in message and "Delete" in message and "new path" in message
    assert ("(finished)" if finished else "(an unfinished run)") in message
    assert str(path if finished else partial_paths(path)[0]) in message


def test_keys_named_in_resume_ignore_may_change(tmp_path, source, reference):
    path = tmp_path / "pools.jsonl"
    with pytest.raises(Crash), stage(path, source, resume_ignore=["batch_size"]) as out:
        out.write(pools(2), embeddings=[emb(r) for r in pools(2)])
        raise Crash
    out = run(
        path, source, pools(), config={**CONFIG, "batch_size": 64}, resume_ignore=["batch_size"]
    )
    assert out.resumed == 2 and path.read_bytes() == reference.read_bytes()
    assert json.loads(meta_path(path).read_text())["config"]["batch_size"] == 64


def test_a_final_file_without_its_meta_is_refused(tmp_path, source):
    path = tmp_path / "pools.jsonl"
    path.write_text("")
    with pytest.raises(StageMismatchError, match=r"exists without pools\.meta\.json"):
        stage(path, source).__enter__()


def test_writes_are_checked(tmp_path, source):
    path = tmp_path / "pools.jsonl"
    p = pools(2)
    with pytest.raises(Crash), stage(path, source) as out:
        with pytest.raises(ValueError, match="one embedding array per record"):
            out.write(p)
        with pytest.raises(
            ValueError, match=r"prompt_id 'p1': embeddings of shape \(2, 5\), expected \(2, 3\)"
        ):
            out.write(p, embeddings=[emb(p[0]), np.zeros((2, 5))])
        assert out.dim is None  # a refused write fixes nothing, not even d
        with pytest.raises(ValueError, match=r"prompt_id 'p0': .* expected \(1, d\)"):
            out.write(p[:1], embeddings=[np.zeros(D)])
        with pytest.raises(ValueError, match="not finite in float16"):
            out.write(p[:1], embeddings=[np.full((1, D), 1e6)])  # overflows float16
        out.write(p[:1], embeddings=[emb(p[0])])
        with pytest.raises(ValueError, match=r"expected \(2, 3\)"):
            out.write(p[1:], embeddings=[np.zeros((2, 4))])
        with pytest.raises(ValueError, match="'p0' is already written"):
            out.write(p[:1], embeddings=[emb(p[0])])
        with pytest.raises(TypeError, match="expected PoolRecord, got GroupRecord"):
            out.write([GroupRecord("g", "x", ["a", "b"], [0, 1], 1, "s")])
        with pytest.raises(ValueError, match="reserved"):
            out.count("dropped")
        raise Crash
    assert partial_paths(path)[0].read_text().count("\n") == 1  # refused writes left no trace
    with pytest.raises(ValueError, match="embeddings given"):
        with stage(tmp_path / "g.jsonl", source, embeddings=None) as out:
            out.write(p[:1], embeddings=[emb(p[0])])


def test_a_second_writer_of_the_same_file_is_refused(tmp_path, source):
    path = tmp_path / "pools.jsonl"
    with stage(path, source) as out:
        out.write(pools(1), embeddings=[emb(pools(1)[0])])
        with pytest.raises(RuntimeError, match="being written by another process"):
            stage(path, source).__enter__()


def test_a_corrupt_complete_line_in_the_partial_is_located(tmp_path, source):
    path = tmp_path / "groups.jsonl"
    cfg = {"k": 2}
    records = [GroupRecord(f"g{i}", "x", ["a", "b"], [0.0, 1.0], 1, "s") for i in range(3)]
    with pytest.raises(Crash), StageOutput(path, kind="group", config=cfg, inputs=[source]) as out:
        out.write(records)
        raise Crash
    lines = partial_paths(path)[0]
    text = lines.read_text().splitlines(keepends=True)
    lines.write_text(text[0] + text[1].replace('"positive":1', '"positive":5') + text[2])
    with pytest.raises(
        RecordError, match=rf"^{re.escape(str(lines))}, line 2, prompt_id 'g1', field 'positive'"
    ):
        StageOutput(path, kind="group", config=cfg, inputs=[source]).__enter__()


def test_read_embeddings_checks_alignment_with_the_lines(reference):
    with open(reference, "a") as handle:
        handle.write(reference.read_text().splitlines(keepends=True)[0])
    with pytest.raises(ValueError, match=r"shape \(9, 4, 3\), expected \(10, N_max, d\)"):
        read_embeddings(reference)


def test_an_output_with_every_record_dropped(tmp_path, source):
    path = tmp_path / "pools.jsonl"
    with stage(path, source) as out:
        out.drop("too long", 9)
    assert path.read_text() == "" and read_embeddings(path).shape == (0, 0, 0)
    assert json.loads(meta_path(path).read_text())["counts"]["dropped"] == {"too long": 9}


class FailingWrites:
    """A file handle whose writes fail: the process dying between the rows and the line."""

    def __init__(self, handle):
        self.handle = handle

    def write(self, data):
        raise OSError("disk full")

    def __getattr__(self, name):
        return getattr(self.handle, name)


def test_a_failed_write_stops_the_run_and_a_resume_realigns(tmp_path, source, reference):
    path = tmp_path / "pools.jsonl"
    records = pools()
    with pytest.raises(RuntimeError, match="a write failed"), stage(path, source) as out:
        out.write(records[:3], embeddings=[emb(r) for r in records[:3]])
        out._jsonl = FailingWrites(out._jsonl)  # the rows of p3, p4 land, their lines do not
        with pytest.raises(OSError, match="disk full"):
            out.write(records[3:5], embeddings=[emb(r) for r in records[3:5]])
        out._jsonl = out._jsonl.handle
        with pytest.raises(RuntimeError, match="after a failure"):
            out.write(records[5:6], embeddings=[emb(records[5])])
    assert not path.exists()
    out = run(path, source, records)
    assert out.resumed == 3
    assert path.read_bytes() == reference.read_bytes()
    np.testing.assert_array_equal(read_embeddings(path), read_embeddings(reference))


def test_a_failure_while_finishing_leaves_no_final_file(tmp_path, source, reference, monkeypatch):
    path = tmp_path / "pools.jsonl"

    def fail(*args, **kwargs):
        raise OSError("no space for the embeddings")

    monkeypatch.setattr(np.lib.format, "open_memmap", fail)
    with pytest.raises(OSError, match="no space"):
        run(path, source, pools())
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "pools.jsonl.partial",
        "pools.jsonl.partial.emb",
        "pools.jsonl.partial.json",
        "prompts.jsonl",
    ]
    monkeypatch.undo()
    out = run(path, source, pools())
    assert out.resumed == 9 and out.written == 0
    assert path.read_bytes() == reference.read_bytes()
