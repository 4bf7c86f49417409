"""Fashion-MNIST from Debian's dataset-fashion-mnist files."""

from __future__ import annotations

import os

import pytest
import torch

from zoo.data.fashion_mnist import FashionMNISTDataModule, read_idx

FMNIST = "/usr/share/datasets/fashion-mnist"
pytestmark = pytest.mark.skipif(not os.path.isdir(FMNIST), reason="apt-get install dataset-fashion-mnist")


def test_splits_shapes_and_normalisation(tmp_path):
    dm = FashionMNISTDataModule(root=FMNIST, cache_dir=str(tmp_path), val_size=5000, seed=0)
    dm.setup("fit")
    assert len(dm.train_dataset) == 55000 and len(dm.val_dataset) == 5000 and len(dm.test_dataset) == 10000
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (256, 1, 28, 28) and x.dtype == torch.float32 and y.max() < 10
    assert abs(float(x.mean())) < 0.3  # roughly standardised
    assert torch.bincount(dm.test_dataset.targets, minlength=10).tolist() == [1000] * 10
    # the split is a function of the seed
    again = FashionMNISTDataModule(root=FMNIST, cache_dir=str(tmp_path), val_size=5000, seed=0)
    again.setup("fit")
    assert torch.equal(again.val_dataset.targets, dm.val_dataset.targets)


def test_missing_files_without_download(tmp_path):
    dm = FashionMNISTDataModule(root=str(tmp_path / "nothing"), cache_dir=str(tmp_path), download=False)
    with pytest.raises(FileNotFoundError, match="data.root="):
        dm.setup("fit")


def test_read_idx_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"\x00\x00\x0d\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(ValueError, match="not an unsigned-byte IDX"):
        read_idx(str(bad))
    short = tmp_path / "short.idx"
    short.write_bytes(b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"abc")
    with pytest.raises(ValueError, match="header says"):
        read_idx(str(short))
