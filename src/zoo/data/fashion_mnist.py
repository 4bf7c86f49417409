"""Fashion-MNIST as a LightningDataModule.

"Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning Algorithms" (Xiao et al.,
2017), https://arxiv.org/abs/1708.07747. Raw files are the four gzipped IDX files, read from
``root`` (Debian's ``dataset-fashion-mnist`` package installs them in
``/usr/share/datasets/fashion-mnist``) or downloaded into ``cache_dir`` when ``download=true``.

=======  ======  =====  =======  =======  ==========
split    images  size   classes  channel  mean / std
=======  ======  =====  =======  =======  ==========
train    60,000  28x28  10       1        0.2860 / 0.3530
test     10,000  28x28  10       1
=======  ======  =====  =======  =======  ==========

Classes: T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot.
The validation set is ``val_size`` training images drawn with ``seed``.
"""

from __future__ import annotations

import gzip
import logging
import os
import os.path as osp
import urllib.request
import zlib
from typing import Optional

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from zoo.data.cache import atomic_write
from zoo.data.image_classification import ImageClassificationDataModule

__all__ = ["FashionMNISTDataModule", "TensorImageDataset", "read_idx"]

log = logging.getLogger(__name__)

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
MEAN, STD = 0.2860, 0.3530


def read_idx(path: str) -> Tensor:
    """An IDX file (gzipped or not) as a uint8 tensor.

    :raises FileNotFoundError: no such file (named).
    :raises ValueError: a truncated or corrupt ``.gz`` file, a header that is not an unsigned-byte
        IDX header, or a size that disagrees with the header (each naming the file).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f"IDX file not found: {path}")
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise ValueError(
            f"{path}: truncated or corrupt gzip file ({type(err).__name__}: {err}); download it again or "
            "reinstall dataset-fashion-mnist"
        ) from err
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(data) - offset != expected:
        raise ValueError(f"{path}: header says {dims} ({expected} bytes) but holds {len(data) - offset}")
    return torch.from_numpy(np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims).copy())


class TensorImageDataset(Dataset):
    """Images held in one uint8 tensor ``(N, C, H, W)``; ``targets`` as in torchvision datasets.

    Each item is ``((image / 255 - mean) / std, label)``, after ``transform`` when given.
    """

    def __init__(self, images: Tensor, targets: Tensor, mean: float, std: float, transform=None) -> None:
        self.images = images
        self.targets = targets
        self.mean = mean
        self.std = std
        self.transform = transform

    def __len__(self) -> int:
        return int(self.targets.numel())

    def __getitem__(self, index: int):
        image = (self.images[index].float() / 255.0 - self.mean) / self.std
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.targets[index])


class FashionMNISTDataModule(ImageClassificationDataModule):
    """Fashion-MNIST train/val/test loaders of normalised ``(1, 28, 28)`` images.

    Args:
        root: folder holding the four ``*-ubyte.gz`` files (``/usr/share/datasets/fashion-mnist``).
        cache_dir: where downloaded files go when ``root`` lacks them.
        download: download the files into ``cache_dir`` when ``root`` lacks them (default: ``True``).
        batch_size: global batch size, divided by the world size under DDP (default: ``256``).
        eval_batch_size: batch size of the val/test loaders (default: ``1024``).
        val_size: training images held out for validation (default: ``5000``).
        train_subset: use only this many (seeded) training images, ``None`` for all (default: ``None``).
        flip: random horizontal flips during training (default: ``False``).
        num_workers: loader workers (default: ``0``).
        seed: for the validation split, the subset and the shuffling (default: ``0``).
    """

    name = "FashionMNIST"
    num_classes = 10
    num_channels = 1
    image_size = 28
    classes = CLASSES
    num_train_images = 60000

    def __init__(
        self,
        *,
        root: str,
        cache_dir: str,
        download: bool = True,
        batch_size: int = 256,
        eval_batch_size: int = 1024,
        val_size: int = 5000,
        train_subset: Optional[int] = None,
        flip: bool = False,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, eval_batch_size=eval_batch_size, val_size=val_size,
                         train_subset=train_subset, num_workers=num_workers, seed=seed)
        self.root = osp.abspath(root)
        self.cache_dir = osp.abspath(cache_dir)
        self.download = download
        self.flip = flip

    # -- fetching ---------------------------------------------------------------------------------
    def _raw_dir(self) -> Optional[str]:
        for folder in (self.root, osp.join(self.cache_dir, "raw")):
            if all(osp.isfile(osp.join(folder, f)) for f in FILES.values()):
                return folder
        return None

    def prepare_data(self) -> None:
        if self._raw_dir() is not None:
            return
        missing = [f for f in FILES.values() if not osp.isfile(osp.join(self.root, f))]
        if not self.download:
            raise FileNotFoundError(
                f"Fashion-MNIST files {missing} not found in data.root={self.root}; install Debian's "
                "dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or set data.download=true"
            )
        raw = osp.join(self.cache_dir, "raw")
        os.makedirs(raw, exist_ok=True)
        for name in FILES.values():
            target = osp.join(raw, name)
            if osp.isfile(target):
                continue
            log.info(f"Downloading {URL + name} to {target}")
            try:
                with atomic_write(target) as part:  # concurrent downloads never share a partial file
                    urllib.request.urlretrieve(URL + name, part)
            except Exception as err:  # noqa: BLE001 - network errors come in many types
                raise FileNotFoundError(
                    f"Fashion-MNIST file {name} not in data.root={self.root} and the download from {URL} "
                    f"failed ({type(err).__name__}: {err}); install dataset-fashion-mnist or set data.root"
                ) from err

    # -- processing -------------------------------------------------------------------------------
    def _load_split(self, split: str) -> tuple[Tensor, Tensor]:
        folder = self._raw_dir()
        if folder is None:
            self.prepare_data()
            folder = self._raw_dir()
        images = read_idx(osp.join(folder, FILES[f"{split}_images"]))
        labels = read_idx(osp.join(folder, FILES[f"{split}_labels"])).long()
        if images.size(0) != labels.size(0):
            raise ValueError(f"Fashion-MNIST {split}: {images.size(0)} images but {labels.size(0)} labels in {folder}")
        return images.unsqueeze(1), labels

    def build_datasets(self) -> None:
        images, labels = self._load_split("train")
        train_idx, val_idx = self.split_indices(images.size(0))
        transform = _random_hflip if self.flip else None
        self.train_dataset = TensorImageDataset(images[train_idx], labels[train_idx], MEAN, STD, transform)
        self.val_dataset = TensorImageDataset(images[val_idx], labels[val_idx], MEAN, STD)
        test_images, test_labels = self._load_split("test")
        self.test_dataset = TensorImageDataset(test_images, test_labels, MEAN, STD)


def _random_hflip(image: Tensor) -> Tensor:
    return image.flip(-1) if torch.rand(()) < 0.5 else image
