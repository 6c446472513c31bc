"""Result files are written atomically and carry config, seed and versions."""

import json

import pytest

from selection.provenance import provenance, write_json


def test_write_json_is_atomic(tmp_path):
    path = write_json(tmp_path / "sub" / "r.json", {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}
    with pytest.raises(TypeError):
        write_json(path, {"bad": object()})  # not serialisable: the old file must survive
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


def test_provenance_block():
    meta = provenance({"k": 8}, seed=3)
    assert meta["config"] == {"k": 8} and meta["seed"] == 3
    assert meta["versions"]["numpy"] and meta["versions"]["torch"]


def test_git_commit_is_dirty_for_sources_not_for_results(tmp_path):
    """A run writing several result files must not mark the later ones '+dirty' because it
    rewrote the earlier ones; an edited source file does mark them."""
    import subprocess

    from selection.provenance import git_commit

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    (tmp_path / "theory" / "results").mkdir(parents=True)
    (tmp_path / "theory" / "results" / "r.json").write_text("{}")
    (tmp_path / "a.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    head = git_commit(tmp_path)
    assert head is not None and not head.endswith("+dirty")
    (tmp_path / "theory" / "results" / "r.json").write_text('{"new": 1}')
    assert git_commit(tmp_path) == head
    (tmp_path / "a.py").write_text("x = 2\n")
    assert git_commit(tmp_path) == head + "+dirty"
