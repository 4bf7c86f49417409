"""Base LightningDataModule for labelled image datasets with an official train/test split.

Holds what every image datamodule repeats: the argument checks, the global batch size divided by
the world size under DDP, the seeded train/validation split (with an optional seeded training
subset), and the train/val/test loaders. A subclass sets the class attributes and implements
:meth:`ImageClassificationDataModule.build_datasets`, which only loads its files.
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional

import torch
from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from zoo.data.resumable import ResumableDataLoader, TrainOrder

__all__ = ["ImageClassificationDataModule"]


class ImageClassificationDataModule(LightningDataModule):
    """Train/val/test loaders over datasets whose items are ``(image, label)``.

    Args:
        batch_size: global batch size, divided by the world size under DDP.
        eval_batch_size: batch size of the val/test loaders.
        val_size: training images held out for validation, drawn with ``seed``.
        train_subset: use only this many (seeded) training images, ``None`` for all.
        num_workers: loader workers.
        seed: for the validation split, the subset and the shuffling.
    """

    #: set by subclasses
    name: ClassVar[str]
    num_classes: ClassVar[int]
    num_channels: ClassVar[int]
    image_size: ClassVar[int]
    classes: ClassVar[tuple[str, ...]]
    #: images in the official training split (bounds ``val_size``)
    num_train_images: ClassVar[int]

    def __init__(
        self,
        *,
        batch_size: int,
        eval_batch_size: int,
        val_size: int,
        train_subset: Optional[int],
        num_workers: int,
        seed: int,
    ) -> None:
        super().__init__()
        if batch_size < 1 or eval_batch_size < 1:
            raise ValueError(f"data.batch_size={batch_size!r}, data.eval_batch_size={eval_batch_size!r}; expected >= 1")
        if not 0 < val_size < self.num_train_images:
            raise ValueError(f"data.val_size={val_size!r}; expected 0 < val_size < {self.num_train_images}")
        if train_subset is not None and train_subset < 1:
            raise ValueError(f"data.train_subset={train_subset!r}; expected a positive int or null")
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.val_size = val_size
        self.train_subset = train_subset
        self.num_workers = num_workers
        self.seed = seed
        #: training order: one permutation per epoch drawn from its generator (saved in checkpoints)
        self.train_order = TrainOrder(seed)
        self.train_dataset: Optional[Dataset] = None
        self.val_dataset: Optional[Dataset] = None
        self.test_dataset: Optional[Dataset] = None
        self._batch_size_per_device = batch_size

    def build_datasets(self) -> None:
        """Load the files and set ``train_dataset``, ``val_dataset`` and ``test_dataset``.

        Use :meth:`split_indices` for the train/validation split so every subclass draws it alike.
        """
        raise NotImplementedError

    def split_indices(self, num_images: int) -> tuple[Tensor, Tensor]:
        """``(train_idx, val_idx)``: a seeded permutation, the first ``val_size`` held out."""
        order = torch.randperm(num_images, generator=torch.Generator().manual_seed(self.seed))
        val_idx, train_idx = order[: self.val_size], order[self.val_size:]
        if self.train_subset is not None:
            train_idx = train_idx[: self.train_subset]
        return train_idx, val_idx

    def setup(self, stage: Optional[str] = None) -> None:
        if self.trainer is not None:
            world = self.trainer.world_size
            if self.batch_size % world != 0:
                raise ValueError(f"data.batch_size={self.batch_size} is not divisible by the world size {world}")
            self._batch_size_per_device = self.batch_size // world
        if self.train_dataset is None:
            self.build_datasets()

    def train_dataloader(self) -> DataLoader:
        return ResumableDataLoader(self.train_dataset, batch_size=self._batch_size_per_device,
                                   generator=self.train_order.loader_generator(), **self._loader_kwargs())

    def state_dict(self) -> dict[str, Any]:
        """The training order's generator state (checkpointed by Lightning, for exact resume)."""
        return {"train_order": self.train_order.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if "train_order" in state_dict:
            self.train_order.load_state_dict(state_dict["train_order"])

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_dataset, batch_size=self.eval_batch_size, **self._loader_kwargs())

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_dataset, batch_size=self.eval_batch_size, **self._loader_kwargs())

    def _loader_kwargs(self) -> dict:
        return dict(num_workers=self.num_workers, pin_memory=torch.cuda.is_available(),
                    persistent_workers=self.num_workers > 0)
