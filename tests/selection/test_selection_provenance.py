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
