"""A class-incremental view of any classification datamodule: the "old" task sees the first
``K`` classes, the "new" task all of them.

The setting of "Positive-Congruent Training" (Yan et al., CVPR 2021,
https://arxiv.org/abs/2011.09161) and "Margin-Preserving Training against Negative Flips"
(arXiv 2511.08322): an old model trained on classes ``0..K-1`` is replaced by a new model trained
on all ``C`` classes, and negative flips are counted on the old-class test samples.
"""

from __future__ import annotations

import copy
from typing import Any, Iterator, Optional

import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, RandomSampler, Subset

from zoo.data.resumable import ResumableDataLoader

__all__ = ["ClassIncrementalDataModule", "SUBSETS", "base_datamodule"]

SUBSETS = ("old", "all")


def base_datamodule(datamodule: Any) -> Any:
    """The wrapped datamodule of a class-incremental view (the datamodule itself otherwise)."""
    while isinstance(datamodule, ClassIncrementalDataModule):
        datamodule = datamodule.datamodule
    return datamodule


class ClassIncrementalDataModule(LightningDataModule):
    r"""Serves ``datamodule`` restricted to the classes ``y < K`` (``subset="old"``) or whole
    (``subset="all"``), and says which classes are old.

    Restriction, for every split:

    * loaders over a map-style dataset with a ``targets`` attribute (torchvision convention) are
      rebuilt over the subset of indices with ``targets < K`` (same batch size, shuffling, workers);
    * any other loader is wrapped and each batch is filtered: ``(x, y)`` tuples and ``{"y": ...}``
      dicts keep the rows with ``y < K``; graph batches with ``train_mask``/``val_mask``/``test_mask``
      (PyG node classification) get their masks intersected with ``y < K``.

    Every other attribute (``num_channels``, ``num_features``, ...) is read from ``datamodule``, so
    ``${datamodule:...}`` interpolations work unchanged.

    Args:
        datamodule: the classification datamodule to view (must expose ``num_classes``).
        num_old_classes: ``K``, ``1 <= K < num_classes``.
        subset: ``"old"`` (classes ``< K``; ``num_classes`` becomes ``K``) or ``"all"``
            (default: ``"all"``).
    """

    def __init__(self, *, datamodule: LightningDataModule, num_old_classes: int, subset: str = "all") -> None:
        super().__init__()
        if subset not in SUBSETS:
            raise ValueError(f"data.subset={subset!r}; expected one of {list(SUBSETS)}")
        if not hasattr(datamodule, "num_classes"):
            raise ValueError(f"data.datamodule: {type(datamodule).__name__} has no num_classes; not a classification datamodule")
        total = int(datamodule.num_classes)
        if not isinstance(num_old_classes, int) or not 1 <= num_old_classes < total:
            raise ValueError(
                f"data.num_old_classes={num_old_classes!r}; expected an int in [1, {total - 1}] "
                f"(fewer than the {total} classes of {type(datamodule).__name__})"
            )
        self.datamodule = datamodule
        self.num_old_classes = num_old_classes
        self.subset = subset
        self.total_classes = total

    def __getattr__(self, name: str) -> Any:
        # only reached when normal lookup fails: forward dataset facts to the wrapped datamodule
        if name.startswith("_") or name in ("datamodule",):
            raise AttributeError(name)
        return getattr(self.__dict__.get("datamodule") or super().__getattribute__("datamodule"), name)

    @property
    def num_classes(self) -> int:
        return self.num_old_classes if self.subset == "old" else self.total_classes

    @property
    def num_new_classes(self) -> int:
        return self.total_classes - self.num_old_classes

    # -- lifecycle: delegate ----------------------------------------------------------------------
    def prepare_data(self) -> None:
        self.datamodule.prepare_data()

    def setup(self, stage: Optional[str] = None) -> None:
        if self.trainer is not None:
            self.datamodule.trainer = self.trainer
        self.datamodule.setup(stage)

    def teardown(self, stage: Optional[str] = None) -> None:
        self.datamodule.teardown(stage)

    def state_dict(self) -> dict[str, Any]:
        return self.datamodule.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.datamodule.load_state_dict(state_dict)

    # -- loaders ----------------------------------------------------------------------------------
    def _view(self, loader: Any, split: str) -> Any:
        if self.subset == "all":
            return loader
        return restrict_loader(loader, self.num_old_classes, split)

    def train_dataloader(self) -> Any:
        return self._view(self.datamodule.train_dataloader(), "train")

    def val_dataloader(self) -> Any:
        return self._view(self.datamodule.val_dataloader(), "val")

    def test_dataloader(self) -> Any:
        return self._view(self.datamodule.test_dataloader(), "test")

    def predict_dataloader(self) -> Any:
        return self._view(self.datamodule.predict_dataloader(), "test")


def restrict_loader(loader: Any, num_old_classes: int, split: str) -> Any:
    """``loader`` limited to the samples with label ``< num_old_classes`` (see the class docstring)."""
    dataset = getattr(loader, "dataset", None)
    targets = getattr(dataset, "targets", None)
    if isinstance(loader, DataLoader) and targets is not None and hasattr(dataset, "__getitem__"):
        keep = (torch.as_tensor(targets) < num_old_classes).nonzero().view(-1).tolist()
        shuffle = isinstance(loader.sampler, RandomSampler)
        generator = loader.sampler.generator if shuffle else None
        kwargs = dict(batch_size=loader.batch_size, num_workers=loader.num_workers, collate_fn=loader.collate_fn,
                      pin_memory=loader.pin_memory, drop_last=loader.drop_last,
                      persistent_workers=loader.persistent_workers, worker_init_fn=loader.worker_init_fn)
        if isinstance(loader, ResumableDataLoader):  # keeps the wrapped datamodule's resumable order
            return ResumableDataLoader(Subset(dataset, keep), generator=loader.generator, **kwargs)
        return DataLoader(Subset(dataset, keep), shuffle=shuffle, generator=generator, **kwargs)
    return _FilteredBatches(loader, num_old_classes, split)


class _FilteredBatches:
    """Batches of ``loader`` with the new-class samples removed (or masked out, for graphs)."""

    def __init__(self, loader: Any, num_old_classes: int, split: str) -> None:
        self.loader = loader
        self.num_old_classes = num_old_classes
        self.split = split

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        for batch in self.loader:
            filtered = self._filter(batch)
            if filtered is not None:
                yield filtered

    def _filter(self, batch: Any) -> Optional[Any]:
        k = self.num_old_classes
        if isinstance(batch, (tuple, list)) and len(batch) >= 2 and torch.is_tensor(batch[-1]):
            keep = batch[-1] < k
            if not keep.any():
                return None
            return type(batch)(t[keep] if torch.is_tensor(t) and t.size(0) == keep.numel() else t for t in batch)
        if isinstance(batch, dict) and torch.is_tensor(batch.get("y")):
            keep = batch["y"] < k
            if not keep.any():
                return None
            return {key: v[keep] if torch.is_tensor(v) and v.size(0) == keep.numel() else v for key, v in batch.items()}
        y = getattr(batch, "y", None)
        masks = [m for m in ("train_mask", "val_mask", "test_mask") if torch.is_tensor(getattr(batch, m, None))]
        if torch.is_tensor(y) and masks:
            batch = copy.copy(batch)
            for m in masks:
                setattr(batch, m, getattr(batch, m) & (y < k))
            return batch
        raise ValueError(
            f"class-incremental view: cannot filter a {type(batch).__name__} batch of the {self.split} split; "
            "expected (x, y) tuples, dicts with 'y', graph batches with y and *_mask, or a DataLoader "
            "whose dataset has a 'targets' attribute"
        )
