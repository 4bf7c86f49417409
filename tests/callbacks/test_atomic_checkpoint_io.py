"""Checkpoint writes through a temporary file beside the target; unreadable checkpoints are named."""

from __future__ import annotations

import os
import time

import pytest
import torch
from omegaconf import OmegaConf

from zoo.callbacks.atomic_checkpoint_io import (
    AtomicCheckpointIO,
    UnreadableCheckpointError,
    atomic_torch_save,
    check_checkpoint_file,
)
from zoo.cli import resolve_ckpt_path


def _truncate(path, keep: float = 0.5) -> None:
    data = open(path, "rb").read()
    open(path, "wb").write(data[: int(len(data) * keep)])


def test_atomic_save_replaces_and_leaves_no_temporary(tmp_path, monkeypatch):
    # $TMPDIR elsewhere must not matter: the temporary file is beside the target
    monkeypatch.setenv("TMPDIR", str(tmp_path / "elsewhere"))
    target = tmp_path / "ckpts" / "last.ckpt"
    atomic_torch_save({"a": torch.arange(3)}, str(target))
    atomic_torch_save({"a": torch.arange(5)}, str(target))
    assert torch.equal(torch.load(target, weights_only=True)["a"], torch.arange(5))
    assert sorted(os.listdir(target.parent)) == ["last.ckpt"]
    assert not (tmp_path / "elsewhere").exists()


def test_failed_write_keeps_the_previous_checkpoint(tmp_path):
    target = tmp_path / "last.ckpt"
    atomic_torch_save({"epoch": 1}, str(target))

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="killed mid-write"):
        AtomicCheckpointIO().save_checkpoint({"epoch": 2, "x": Unpicklable()}, str(target))
    assert torch.load(target, weights_only=True) == {"epoch": 1}
    assert os.listdir(tmp_path) == ["last.ckpt"]


def test_truncated_checkpoint_error_names_the_file(tmp_path):
    path = tmp_path / "last.ckpt"
    torch.save({"w": torch.randn(1000)}, path)
    _truncate(path)
    with pytest.raises(UnreadableCheckpointError, match=f"checkpoint {path} is unreadable"):
        check_checkpoint_file(str(path))
    with pytest.raises(UnreadableCheckpointError, match=str(path)):
        AtomicCheckpointIO().load_checkpoint(str(path))
    cfg = OmegaConf.create({"paths": {"log_dir": str(tmp_path)}, "task_name": "t"})
    with pytest.raises(UnreadableCheckpointError, match=str(path)):
        resolve_ckpt_path(str(path), cfg)


def test_last_skips_an_unreadable_newest_checkpoint(tmp_path, caplog):
    older = tmp_path / "t" / "runs" / "a" / "checkpoints" / "last.ckpt"
    newer = tmp_path / "t" / "runs" / "b" / "checkpoints" / "last.ckpt"
    for i, path in enumerate((older, newer)):
        atomic_torch_save({"epoch": i, "w": torch.randn(1000)}, str(path))
        os.utime(path, (time.time() + i, time.time() + i))
    _truncate(newer)
    cfg = OmegaConf.create({"paths": {"log_dir": str(tmp_path)}, "task_name": "t"})
    with caplog.at_level("WARNING"):
        assert resolve_ckpt_path("last", cfg) == str(older)
    assert str(newer) in caplog.text and "unreadable" in caplog.text
    _truncate(older)
    with pytest.raises(FileNotFoundError, match="every last.ckpt .* is unreadable"):
        resolve_ckpt_path("last", cfg)
