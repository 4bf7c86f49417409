"""The shared image datamodule base: argument checks, seeded split, batch size under DDP."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
import torch

from zoo.data.cifar10 import CIFAR10DataModule
from zoo.data.fashion_mnist import FashionMNISTDataModule

FMNIST = "/usr/share/datasets/fashion-mnist"


@pytest.mark.parametrize("bad, match", [
    ({"val_size": 60000}, r"data.val_size=60000; expected 0 < val_size < 60000"),
    ({"batch_size": 0}, r"data.batch_size=0"),
    ({"train_subset": 0}, r"data.train_subset=0"),
])
def test_argument_checks_name_the_key(bad, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        FashionMNISTDataModule(root=FMNIST, cache_dir=str(tmp_path), **bad)


def test_val_size_bound_is_the_dataset_s_own(tmp_path):
    # CIFAR-10 has 50,000 training images: 55,000 is out of range there, not for Fashion-MNIST
    with pytest.raises(ValueError, match=r"expected 0 < val_size < 50000"):
        CIFAR10DataModule(archive="unused.tar.gz", cache_dir=str(tmp_path), val_size=55000)


@pytest.mark.skipif(not os.path.isdir(FMNIST), reason="apt-get install dataset-fashion-mnist")
def test_subset_split_and_per_device_batch(tmp_path):
    dm = FashionMNISTDataModule(root=FMNIST, cache_dir=str(tmp_path), batch_size=64, val_size=1000,
                                train_subset=300, seed=3)
    dm.trainer = SimpleNamespace(world_size=2)
    dm.setup("fit")
    assert len(dm.train_dataset) == 300 and len(dm.val_dataset) == 1000
    assert next(iter(dm.train_dataloader()))[0].shape[0] == 32  # 64 split over 2 processes
    train_idx, val_idx = dm.split_indices(60000)
    assert not set(train_idx.tolist()) & set(val_idx.tolist())
    assert torch.equal(val_idx, FashionMNISTDataModule(root=FMNIST, cache_dir=str(tmp_path), val_size=1000,
                                                       seed=3).split_indices(60000)[1])
    odd = FashionMNISTDataModule(root=FMNIST, cache_dir=str(tmp_path), batch_size=65)
    odd.trainer = SimpleNamespace(world_size=2)
    with pytest.raises(ValueError, match="data.batch_size=65 is not divisible by the world size 2"):
        odd.setup("fit")
