"""The class-incremental view: old = first K classes, over image loaders and graph batches."""

from __future__ import annotations

import pytest
import torch

from zoo.data.class_incremental import ClassIncrementalDataModule
from zoo.data.fashion_mnist import FashionMNISTDataModule

FMNIST = "/usr/share/datasets/fashion-mnist"


def _fmnist(tmp_path, **kw):
    return FashionMNISTDataModule(root=FMNIST, cache_dir=str(tmp_path), train_subset=2000, val_size=500,
                                  eval_batch_size=2500, **kw)


def test_old_view_serves_only_old_classes(tmp_path):
    view = ClassIncrementalDataModule(datamodule=_fmnist(tmp_path), num_old_classes=4, subset="old")
    assert view.num_classes == 4 and view.num_old_classes == 4 and view.num_new_classes == 6
    assert view.num_channels == 1 and view.image_size == 28  # forwarded to the wrapped datamodule
    view.setup("fit")
    seen = torch.cat([y for _, y in view.train_dataloader()])
    assert seen.max() < 4 and seen.numel() == int((view.datamodule.train_dataset.targets < 4).sum())
    test = torch.cat([y for _, y in view.test_dataloader()])
    assert test.numel() == 4000 and set(test.tolist()) == {0, 1, 2, 3}  # 1,000 test images per class


def test_all_view_is_the_wrapped_datamodule(tmp_path):
    view = ClassIncrementalDataModule(datamodule=_fmnist(tmp_path), num_old_classes=5)
    assert view.num_classes == 10 and view.num_old_classes == 5
    view.setup("test")
    assert len(torch.cat([y for _, y in view.test_dataloader()])) == 10000


def test_graph_batches_get_their_masks_restricted():
    from torch_geometric.data import Data

    from zoo.data.class_incremental import restrict_loader

    data = Data(x=torch.randn(6, 2), y=torch.tensor([0, 1, 2, 3, 0, 2]),
                train_mask=torch.tensor([1, 1, 1, 0, 0, 0], dtype=torch.bool),
                test_mask=torch.tensor([0, 0, 0, 1, 1, 1], dtype=torch.bool))
    batch = next(iter(restrict_loader([data], 2, "train")))
    assert batch.train_mask.tolist() == [True, True, False, False, False, False]
    assert batch.test_mask.tolist() == [False, False, False, False, True, False]
    assert data.train_mask.sum() == 3  # the original is untouched


def test_tuple_batches_without_targets_attribute_are_filtered():
    from zoo.data.class_incremental import restrict_loader

    batches = [(torch.arange(4.0), torch.tensor([0, 3, 1, 2])), (torch.arange(2.0), torch.tensor([3, 2]))]
    out = list(restrict_loader(batches, 2, "train"))
    assert len(out) == 1 and out[0][1].tolist() == [0, 1] and out[0][0].tolist() == [0.0, 2.0]


def test_bad_view_arguments(tmp_path):
    dm = _fmnist(tmp_path)
    for k in (0, 10, 11):
        with pytest.raises(ValueError, match=rf"data.num_old_classes={k}; expected an int in \[1, 9\]"):
            ClassIncrementalDataModule(datamodule=dm, num_old_classes=k)
    with pytest.raises(ValueError, match="data.subset='new'"):
        ClassIncrementalDataModule(datamodule=dm, num_old_classes=5, subset="new")
