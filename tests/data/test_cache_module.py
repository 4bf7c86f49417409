"""zoo.data.cache: content keys, atomic writes, the build lock, pickle-free formats that refuse planted files."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch

from tests.data.cache_helpers import plant_pickle, run_in_processes
from zoo.data.cache import (
    CacheError, atomic_write, cache_lock, content_key, load_arrays, load_tensors, save_arrays, save_tensors,
)


def test_content_key_follows_bytes_not_paths_or_size(tmp_path):
    a, b = tmp_path / "a" / "raw.csv", tmp_path / "b" / "raw.csv"
    for p in (a, b):
        p.parent.mkdir()
        p.write_text("CCO,1.5\n")
    assert content_key([str(a)], "opt") == content_key([str(b)], "opt")  # same bytes, other root
    assert content_key([str(a)], "opt") != content_key([str(a)], "other")
    before = content_key([str(a)])
    stat = os.stat(a)
    a.write_text("CCN,1.5\n")  # same size, and the old mtime put back
    os.utime(a, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert os.stat(a).st_size == stat.st_size and content_key([str(a)]) != before
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        content_key([str(tmp_path / "missing.csv")])


def test_large_files_are_keyed_by_size_and_mtime(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("a 1 2\n")
    key = content_key([str(path)], hash_limit=2)
    path.write_text("b 1 2\n")
    os.utime(path, ns=(1, 10**18))
    assert content_key([str(path)], hash_limit=2) != key


def test_atomic_write_replaces_or_leaves_old_file(tmp_path):
    target = tmp_path / "x.npz"
    save_arrays(str(target), {"a": np.arange(3)})
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(str(target)) as tmp:
            assert os.path.dirname(tmp) == str(tmp_path) and tmp.endswith("-x.npz") and str(os.getpid()) in tmp
            with open(tmp, "wb") as handle:
                handle.write(b"half")
            raise RuntimeError("boom")
    assert sorted(os.listdir(tmp_path)) == ["x.npz"]  # no temporary left, old content intact
    assert load_arrays(str(target))["a"].tolist() == [0, 1, 2]


def test_round_trips(tmp_path):
    save_tensors(str(tmp_path / "t.safetensors"), {"x": torch.arange(4), "empty": torch.zeros(0, 2)}, {"names": ["a"]})
    tensors, meta = load_tensors(str(tmp_path / "t.safetensors"), required=["x"], required_meta=["names"])
    assert tensors["x"].tolist() == [0, 1, 2, 3] and tensors["empty"].shape == (0, 2) and meta == {"names": ["a"]}
    with pytest.raises(CacheError, match="missing"):
        load_tensors(str(tmp_path / "t.safetensors"), required=["y"])
    with pytest.raises(TypeError, match="dtype object"):
        save_arrays(str(tmp_path / "o.npz"), {"o": np.asarray([np.zeros(2), np.zeros(3)], dtype=object)})


@pytest.mark.parametrize("suffix, load", [(".safetensors", load_tensors), (".npz", load_arrays)])
def test_planted_pickle_and_garbage_are_refused(tmp_path, suffix, load):
    path, marker = str(tmp_path / f"cache{suffix}"), tmp_path / "marker"
    plant_pickle(path, str(marker))
    with pytest.raises(CacheError, match=f"cache{suffix}: not a valid zoo cache file"):
        load(path)
    assert not marker.exists()
    with open(path, "wb") as handle:
        handle.write(os.urandom(300))
    with pytest.raises(CacheError, match="rm "):
        load(path)


def _build_once(path: str, log: str) -> list[int]:
    with cache_lock(path):
        if not os.path.isfile(path):
            with open(log, "a") as handle:
                handle.write(f"{os.getpid()}\n")
            time.sleep(0.5)  # a slow build: the other process must wait, not build too
            save_tensors(path, {"x": torch.arange(1000)})
    return load_tensors(path)[0]["x"].tolist()


def test_two_processes_build_one_entry_once(tmp_path):
    path, log = str(tmp_path / "entry.safetensors"), str(tmp_path / "builds.log")
    first, second = run_in_processes(_build_once, [(path, log), (path, log)])
    assert first == second == list(range(1000))
    assert len(open(log).read().split()) == 1
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]  # no temporaries left behind
