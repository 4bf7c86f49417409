"""CIFAR-10 as a LightningDataModule, from the JPEG re-encoding in ``images/cifar10-images-jpeg.tar.gz``.

"Learning Multiple Layers of Features from Tiny Images" (Krizhevsky, 2009). The archive holds
``train/<class>/<n>.jpg`` and ``test/<class>/<n>.jpg``; it is extracted once into ``cache_dir``
(never beside the raw archive) and the JPEGs are decoded per sample.

=======  ======  =====  =======  ===========================================
split    images  size   classes  mean / std (per channel)
=======  ======  =====  =======  ===========================================
train    50,000  32x32  10       (0.4914, 0.4822, 0.4465) / (0.2023, 0.1994, 0.2010)
test     10,000  32x32  10
=======  ======  =====  =======  ===========================================

Training augmentation: random crop 32 with 4 pixels of padding and horizontal flips (as in the
MPT/PCT code). Class indices follow the standard CIFAR-10 order (airplane = 0 ... truck = 9).
"""

from __future__ import annotations

import logging
import os
import os.path as osp
import shutil
import tarfile
import tempfile
from typing import Optional

import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import transforms

from zoo.data.image_classification import ImageClassificationDataModule

__all__ = ["CIFAR10DataModule", "JpegFolderDataset", "CIFAR10_CLASSES"]

log = logging.getLogger(__name__)

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


class JpegFolderDataset(Dataset):
    """``<split>/<class>/<n>.jpg`` files with a fixed class order; ``targets`` as in torchvision."""

    def __init__(self, folder: str, classes: tuple[str, ...], transform=None) -> None:
        self.files: list[str] = []
        targets: list[int] = []
        for label, name in enumerate(classes):
            class_dir = osp.join(folder, name)
            if not osp.isdir(class_dir):
                raise FileNotFoundError(f"CIFAR-10 class folder missing: {class_dir}")
            names = sorted(f for f in os.listdir(class_dir) if f.endswith(".jpg"))
            self.files += [osp.join(class_dir, f) for f in names]
            targets += [label] * len(names)
        self.targets = torch.tensor(targets, dtype=torch.long)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        with Image.open(self.files[index]) as img:
            image = img.convert("RGB")
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.targets[index])


class CIFAR10DataModule(ImageClassificationDataModule):
    """CIFAR-10 train/val/test loaders of normalised ``(3, 32, 32)`` images.

    Args:
        archive: ``cifar10-images-jpeg.tar.gz`` (``paths.data_dir/images/...``).
        cache_dir: where the archive is extracted once.
        batch_size: global batch size, divided by the world size under DDP (default: ``128``).
        eval_batch_size: batch size of the val/test loaders (default: ``512``).
        val_size: training images held out for validation, drawn with ``seed`` (default: ``5000``).
        train_subset: use only this many (seeded) training images, ``None`` for all (default: ``None``).
        augment: random crop (pad 4) + horizontal flip during training (default: ``True``).
        num_workers: loader workers (default: ``4``).
        seed: for the validation split, the subset and the shuffling (default: ``0``).
    """

    name = "CIFAR10"
    num_classes = 10
    num_channels = 3
    image_size = 32
    classes = CIFAR10_CLASSES
    num_train_images = 50000

    def __init__(
        self,
        *,
        archive: str,
        cache_dir: str,
        batch_size: int = 128,
        eval_batch_size: int = 512,
        val_size: int = 5000,
        train_subset: Optional[int] = None,
        augment: bool = True,
        num_workers: int = 4,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, eval_batch_size=eval_batch_size, val_size=val_size,
                         train_subset=train_subset, num_workers=num_workers, seed=seed)
        self.archive = osp.abspath(archive)
        self.cache_dir = osp.abspath(cache_dir)
        self.augment = augment

    @property
    def extracted_dir(self) -> str:
        return osp.join(self.cache_dir, "cifar10-images-jpeg")

    def prepare_data(self) -> None:
        """Extract the archive once (into a temporary folder, then renamed: safe to interrupt)."""
        if osp.isdir(osp.join(self.extracted_dir, "test")) and osp.isdir(osp.join(self.extracted_dir, "train")):
            return
        if not osp.isfile(self.archive):
            raise FileNotFoundError(
                f"data.archive={self.archive!r}: CIFAR-10 JPEG archive not found; set ZOO_DATA_DIR or "
                f"data.archive (the original CIFAR-10 is at {URL})"
            )
        os.makedirs(self.cache_dir, exist_ok=True)
        log.info(f"Extracting {self.archive} to {self.extracted_dir}")
        tmp = tempfile.mkdtemp(dir=self.cache_dir, prefix=".cifar10-")
        try:
            with tarfile.open(self.archive, "r:gz") as tar:
                tar.extractall(tmp, filter="data")
            if not osp.isdir(osp.join(tmp, "train")):
                raise ValueError(f"{self.archive} holds no train/ folder: not the CIFAR-10 JPEG archive")
            try:
                os.rename(tmp, self.extracted_dir)
            except OSError:  # another process finished first
                pass
        finally:
            if osp.isdir(tmp):
                shutil.rmtree(tmp, ignore_errors=True)

    def build_datasets(self) -> None:
        self.prepare_data()
        normalize = [transforms.ToTensor(), transforms.Normalize(MEAN, STD)]
        augment = [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()] if self.augment else []
        train_full = JpegFolderDataset(osp.join(self.extracted_dir, "train"), CIFAR10_CLASSES,
                                       transforms.Compose(augment + normalize))
        val_full = JpegFolderDataset(osp.join(self.extracted_dir, "train"), CIFAR10_CLASSES,
                                     transforms.Compose(normalize))
        train_idx, val_idx = self.split_indices(len(train_full))
        self.train_dataset = _Subset(train_full, train_idx)
        self.val_dataset = _Subset(val_full, val_idx)
        self.test_dataset = JpegFolderDataset(osp.join(self.extracted_dir, "test"), CIFAR10_CLASSES,
                                              transforms.Compose(normalize))


class _Subset(Dataset):
    """``torch.utils.data.Subset`` that keeps a ``targets`` tensor (the class-incremental view reads it)."""

    def __init__(self, dataset: JpegFolderDataset, indices: torch.Tensor) -> None:
        self.dataset = dataset
        self.indices = indices
        self.targets = dataset.targets[indices]

    def __len__(self) -> int:
        return int(self.indices.numel())

    def __getitem__(self, index: int):
        return self.dataset[int(self.indices[index])]
