"""Tests for merkit.cache: keys, round trips, atomicity, concurrency, info/clear."""

import multiprocessing as mp
import os
import re

import numpy as np
import pytest

from merkit.cache import FeatureCache, default_cache_dir
from merkit.errors import ConfigError, ShapeError


@pytest.fixture
def cache(tmp_path):
    return FeatureCache(tmp_path / "cache")


@pytest.fixture
def inputs(tmp_path):
    a = tmp_path / "a.jpg"
    b = tmp_path / "b.jpg"
    a.write_bytes(b"onset-bytes")
    b.write_bytes(b"apex-bytes")
    return [a, b]


def test_key_is_deterministic_and_namespaced(cache, inputs):
    k1 = cache.key("flow", {"method": "tvl1", "size": (224, 224)}, inputs)
    k2 = cache.key("flow", {"size": [224, 224], "method": "tvl1"}, inputs)
    assert k1 == k2  # key order and tuple/list do not matter
    assert re.fullmatch(r"flow-[0-9a-f]{64}", k1)
    assert cache.key("strain", {"method": "tvl1", "size": (224, 224)}, inputs) != k1


def test_key_changes_with_settings_inputs_and_order(cache, inputs):
    base = cache.key("flow", {"method": "tvl1"}, inputs)
    assert cache.key("flow", {"method": "farneback"}, inputs) != base
    assert cache.key("flow", {"method": "tvl1"}, inputs[::-1]) != base
    inputs[1].write_bytes(b"apex-bytes-changed")
    assert cache.key("flow", {"method": "tvl1"}, inputs) != base


def test_content_fingerprint_survives_copy_stat_does_not(tmp_path, inputs):
    copies = []
    for p in inputs:
        c = tmp_path / ("copy_" + p.name)
        c.write_bytes(p.read_bytes())
        copies.append(c)
    content = FeatureCache(tmp_path / "c")
    stat = FeatureCache(tmp_path / "c", fingerprint="stat")
    assert content.key("flow", {}, inputs) == content.key("flow", {}, copies)
    assert stat.key("flow", {}, inputs) != stat.key("flow", {}, copies)


def test_missing_input_and_bad_names_raise(cache, tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "nope.jpg"))):
        cache.key("flow", {}, [tmp_path / "nope.jpg"])
    with pytest.raises(ConfigError, match="namespace 'Flow/x' is invalid"):
        cache.key("Flow/x", {}, [])
    with pytest.raises(ConfigError, match="not JSON-serialisable"):
        cache.key("flow", {"fn": object()}, [])
    with pytest.raises(ConfigError, match="malformed"):
        cache.load("not-a-key")
    with pytest.raises(ConfigError, match="fingerprint"):
        FeatureCache(tmp_path, fingerprint="mtime")


def test_round_trip_is_bit_exact_and_keeps_dtype(cache):
    rng = np.random.default_rng(0)
    flow = rng.normal(size=(8, 9, 2)).astype(np.float32)
    strain = rng.normal(size=(8, 9)).astype(np.float64)
    key = cache.key("flow", {"m": 1}, [])
    assert cache.load(key) is None and key not in cache
    path = cache.save(key, {"flow": flow, "strain": strain}, {"sample": "casme2/sub01/EP02_01f"})
    assert path.is_file() and key in cache
    got = cache.load(key)
    assert set(got) == {"flow", "strain"}
    assert got["flow"].dtype == np.float32 and np.array_equal(got["flow"], flow)
    assert got["strain"].dtype == np.float64 and np.array_equal(got["strain"], strain)
    meta = cache.meta(key)
    assert meta["sample"] == "casme2/sub01/EP02_01f" and meta["key"] == key


def test_compressed_round_trip(tmp_path):
    cache = FeatureCache(tmp_path, compress=True)
    key = cache.key("flow", {}, [])
    arr = np.linspace(0, 1, 100, dtype=np.float32).reshape(10, 10)
    cache.save(key, {"x": arr})
    assert np.array_equal(cache.load(key)["x"], arr)


def test_save_rejects_object_arrays_and_bad_names(cache):
    key = cache.key("flow", {}, [])
    with pytest.raises(ShapeError, match="dtype object"):
        cache.save(key, {"x": np.array([{}], dtype=object)})
    with pytest.raises(ShapeError, match="'__meta__' is invalid"):
        cache.save(key, {"__meta__": np.zeros(2)})
    assert key not in cache


def test_corrupt_entry_is_a_miss_and_removed(cache):
    key = cache.key("flow", {}, [])
    path = cache.save(key, {"x": np.zeros(3)})
    path.write_bytes(b"PK\x03\x04 truncated")
    assert cache.load(key) is None
    assert not path.exists()


def test_failed_write_leaves_nothing(cache, monkeypatch):
    key = cache.key("flow", {}, [])

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        cache.save(key, {"x": np.zeros(3)})
    assert key not in cache
    assert not any(p.is_file() for p in cache.root.rglob("*"))


def _write_same_key(root, seed, n):
    cache = FeatureCache(root)
    key = cache.key("flow", {"shared": True}, [])
    arr = np.arange(200_000, dtype=np.float32)
    for _ in range(n):
        cache.save(key, {"x": arr}, {"writer": seed})
        got = cache.load(key)
        assert got is not None and np.array_equal(got["x"], arr)


def test_two_processes_writing_the_same_key(tmp_path):
    ctx = mp.get_context("spawn" if os.name == "nt" else "fork")
    procs = [ctx.Process(target=_write_same_key, args=(tmp_path, s, 15)) for s in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    cache = FeatureCache(tmp_path)
    info = cache.info()
    assert info.namespaces == {"flow": (1, info.size_bytes)}
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.name.startswith(".")]


def test_info_and_clear(cache):
    for ns, n in (("flow", 3), ("faces", 2)):
        for i in range(n):
            cache.save(cache.key(ns, {"i": i}, []), {"x": np.zeros(10, np.float32)})
    (cache.root / "unrelated").mkdir()
    (cache.root / "unrelated" / "keep.txt").write_text("user data")
    info = cache.info()
    assert {k: v[0] for k, v in info.namespaces.items()} == {"flow": 3, "faces": 2}
    assert info.entries == 5 and info.size_bytes > 0
    assert cache.clear("faces") == 2
    assert set(cache.info().namespaces) == {"flow"}
    assert cache.clear() == 3
    assert cache.info().entries == 0
    assert (cache.root / "unrelated" / "keep.txt").read_text() == "user data"
    assert cache.clear() == 0


def test_default_root_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MERKIT_CACHE_DIR", str(tmp_path / "envcache"))
    assert default_cache_dir() == tmp_path / "envcache"
    assert FeatureCache().root == tmp_path / "envcache"
    monkeypatch.delenv("MERKIT_CACHE_DIR")
    assert str(default_cache_dir()).endswith(os.path.join(".cache", "merkit"))
