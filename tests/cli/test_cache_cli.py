"""``merkit cache info|clear``."""

import numpy as np

from merkit.cache import FeatureCache
from merkit.cli import main


def test_cache_info_and_clear(tmp_path, capsys):
    cache = FeatureCache(tmp_path)
    for i in range(3):
        cache.save(cache.key("flow", {"i": i}, []), {"x": np.zeros(100, np.float32)})
    cache.save(cache.key("faces", {}, []), {"x": np.zeros(10, np.float32)})
    assert main(["cache", "info", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "flow: 3 entries" in out and "faces: 1 entries" in out and "total: 4 entries" in out
    assert main(["cache", "clear", "--root", str(tmp_path), "--namespace", "faces", "--yes"]) == 0
    assert "removed 1 entries" in capsys.readouterr().out
    assert main(["cache", "clear", "--root", str(tmp_path), "--yes"]) == 0
    assert "removed 3 entries" in capsys.readouterr().out
    assert main(["cache", "info", "--root", str(tmp_path)]) == 0
    assert "(empty)" in capsys.readouterr().out


def test_cache_clear_bad_namespace_is_a_clear_error(tmp_path, capsys):
    assert main(["cache", "clear", "--root", str(tmp_path), "--namespace", "Bad/ns", "--yes"]) == 1
    assert "cache namespace 'Bad/ns' is invalid" in capsys.readouterr().err
