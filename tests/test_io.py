import pytest

from merkit._io import atomic_path, write_json, write_text


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "sub" / "a.txt"
    write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.txt"]


def test_json_is_sorted_and_handles_numpy(tmp_path):
    import numpy as np

    path = write_json(tmp_path / "m.json", {"b": np.float32(0.5), "a": np.arange(2)})
    assert path.read_text() == '{\n  "a": [\n    0,\n    1\n  ],\n  "b": 0.5\n}\n'
