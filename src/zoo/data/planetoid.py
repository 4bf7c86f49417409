"""Planetoid citation graphs (Cora, CiteSeer, PubMed) as a full-batch LightningDataModule.

"Revisiting Semi-Supervised Learning with Graph Embeddings" (Yang et al., 2016),
https://arxiv.org/abs/1603.08861. Raw files are the ``ind.<name>.*`` pickles PyG's
:class:`~torch_geometric.datasets.Planetoid` reads; processed tensors go to ``cache_dir`` (as
safetensors keyed by the raw files' bytes, built under a file lock: see :meth:`PlanetoidDataModule._processed`)
so the raw root may be read-only and concurrent runs may share the cache.

========  =======  =======  ========  =======  ===============
Name      #nodes   #edges   #feats    #class   public split
========  =======  =======  ========  =======  ===============
Cora      2,708    10,556   1,433     7        140/500/1000
CiteSeer  3,327    9,104    3,703     6        120/500/1000
PubMed    19,717   88,648   500       3        60/500/1000
========  =======  =======  ========  =======  ===============
"""

from __future__ import annotations

import logging
import os
import os.path as osp
from typing import Optional

import torch
from torch_geometric.data import Data
from torch_geometric.datasets import Planetoid
from torch_geometric.io.planetoid import read_file, read_planetoid_data
from torch_geometric.transforms import NormalizeFeatures

from zoo.data.cache import cache_lock, content_key, load_tensors, save_tensors
from zoo.data.full_graph import FullGraphDataModule

__all__ = ["PlanetoidDataModule", "PLANETOID_NAMES", "PLANETOID_SPLITS"]

log = logging.getLogger(__name__)

PLANETOID_NAMES = ("Cora", "CiteSeer", "PubMed")
PLANETOID_SPLITS = ("public", "full", "random")
#: validation size of the public split, and of ``split=random`` unless ``num_val`` says otherwise
DEFAULT_NUM_VAL = 500
_RAW_PARTS = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")


_TENSORS = ("x", "edge_index", "y", "train_mask", "val_mask", "test_mask")


def check_planetoid_raw(raw_dir: str, name: str) -> None:
    """Read every raw file once and check the shapes agree.

    :raises FileNotFoundError: a raw file is missing.
    :raises ValueError: a file is truncated/corrupt or its shape disagrees with the others; the
        message names the file.
    """
    prefix = name.lower()
    parts = {}
    for part in _RAW_PARTS:
        path = osp.join(raw_dir, f"ind.{prefix}.{part}")
        if not osp.isfile(path):
            raise FileNotFoundError(f"Planetoid raw file missing: {path}")
        try:
            parts[part] = read_file(raw_dir, prefix, part)
        except Exception as err:  # noqa: BLE001 - pickle raises many kinds
            raise ValueError(f"Planetoid raw file {path} is truncated or corrupt: {type(err).__name__}: {err}") from err
    pairs = (("x", "y"), ("tx", "ty"), ("allx", "ally"))
    for feat, label in pairs:
        if parts[feat].size(0) != parts[label].size(0):
            raise ValueError(
                f"Planetoid raw files disagree: ind.{prefix}.{feat} has {parts[feat].size(0)} rows "
                f"but ind.{prefix}.{label} has {parts[label].size(0)} (in {raw_dir})"
            )
    widths = {p: parts[p].size(1) for p in ("x", "tx", "allx")}
    if len(set(widths.values())) != 1:
        raise ValueError(f"Planetoid feature widths disagree in {raw_dir}: {widths}")
    num_nodes = len(parts["graph"])
    if parts["test.index"].numel() and int(parts["test.index"].max()) >= num_nodes:
        raise ValueError(
            f"ind.{prefix}.test.index refers to node {int(parts['test.index'].max())} but "
            f"ind.{prefix}.graph has {num_nodes} nodes (in {raw_dir})"
        )


class PlanetoidDataModule(FullGraphDataModule):
    """One Planetoid graph, served whole as a single batch (train/val/test are node masks).

    Args:
        root: folder holding ``<name>/raw/ind.<name>.*`` (``paths.data_dir/planetoid``).
        cache_dir: where processed tensors are written (never beside the raw files).
        name: ``Cora``, ``CiteSeer`` or ``PubMed``.
        split: ``public`` (Yang et al.), ``full`` (all non-val/test nodes train) or ``random``
            (``num_train_per_class`` per class, drawn with ``seed``; then ``num_val`` validation and
            1,000 test nodes from the rest).
        normalize_features: row-normalise bag-of-words features (default: ``True``).
        download: fetch the raw files from the Planetoid repository when missing.
        num_train_per_class: for ``split=random``.
        seed: for ``split=random``.
        num_val: for ``split=random``: validation nodes (default 500); ``None`` = every node left
            after the training (and test) nodes, which needs ``exclude_public_test``.
        exclude_public_test: for ``split=random``: draw the training and validation nodes only from
            nodes outside the public test mask and keep the public test mask as the test mask, so a
            model-selection protocol on a random split never touches the public test nodes (they stay
            in the graph as unlabelled nodes, the transductive setting).
    """

    def __init__(
        self,
        *,
        root: str,
        cache_dir: str,
        name: str = "Cora",
        split: str = "public",
        normalize_features: bool = True,
        download: bool = True,
        num_train_per_class: int = 20,
        seed: int = 0,
        num_val: Optional[int] = DEFAULT_NUM_VAL,
        exclude_public_test: bool = False,
    ) -> None:
        super().__init__()
        if name not in PLANETOID_NAMES:
            raise ValueError(f"data.name={name!r}; expected one of {list(PLANETOID_NAMES)}")
        if split not in PLANETOID_SPLITS:
            raise ValueError(f"data.split={split!r}; expected one of {list(PLANETOID_SPLITS)}")
        if isinstance(num_train_per_class, bool) or not isinstance(num_train_per_class, int) or num_train_per_class < 1:
            raise ValueError(f"data.num_train_per_class={num_train_per_class!r}; expected an integer >= 1")
        if num_val is not None and (isinstance(num_val, bool) or not isinstance(num_val, int) or num_val < 1):
            raise ValueError(f"data.num_val={num_val!r}; expected an integer >= 1 or null (every remaining node)")
        if split != "random" and (exclude_public_test or num_val != DEFAULT_NUM_VAL):
            raise ValueError(
                f"data.exclude_public_test={exclude_public_test!r} and data.num_val={num_val!r} only apply to "
                f"data.split='random' (got data.split={split!r}); leave them at false / {DEFAULT_NUM_VAL}"
            )
        if num_val is None and not exclude_public_test:
            raise ValueError(
                "data.num_val=null (every remaining node is validation) needs data.exclude_public_test=true, "
                "otherwise no node is left for the 1,000 random test nodes"
            )
        self.root = osp.abspath(root)
        self.cache_dir = osp.abspath(cache_dir)
        self.name = name
        self.split = split
        self.normalize_features = normalize_features
        self.download = download
        self.num_train_per_class = num_train_per_class
        self.seed = seed
        self.num_val = num_val
        self.exclude_public_test = exclude_public_test
        self._data: Optional[Data] = None

    # -- fetching ---------------------------------------------------------------------------------
    @property
    def raw_dir(self) -> str:
        return osp.join(self.root, self.name, "raw")

    def _raw_complete(self) -> bool:
        return all(osp.isfile(osp.join(self.raw_dir, f"ind.{self.name.lower()}.{p}")) for p in _RAW_PARTS)

    def prepare_data(self) -> None:
        if self._raw_complete():
            return
        if not self.download:
            raise FileNotFoundError(
                f"Planetoid {self.name} raw files not found in {self.raw_dir} (data.root={self.root}); "
                "set ZOO_DATA_DIR or data.root to the folder holding <name>/raw, or data.download=true"
            )
        log.info(f"Downloading Planetoid {self.name} to {self.raw_dir}")
        os.makedirs(self.raw_dir, exist_ok=True)
        try:
            Planetoid.download(_DownloadTarget(self.raw_dir, self.name))
        except Exception as err:  # noqa: BLE001 - network errors come in many types
            raise FileNotFoundError(
                f"Planetoid {self.name} raw files not found in {self.raw_dir} (data.root={self.root}) "
                f"and the download failed ({type(err).__name__}: {err}); set ZOO_DATA_DIR or data.root"
            ) from err

    # -- processing -------------------------------------------------------------------------------
    def _load(self) -> Data:
        if self._data is not None:
            return self._data
        self.prepare_data()
        data = self._processed()
        if self.split == "full":
            data.train_mask = ~(data.val_mask | data.test_mask)
        elif self.split == "random":
            data = self._random_split(data, int(data.y.max()) + 1)
        if self.normalize_features:
            data = NormalizeFeatures()(data)
        self._validate(data)
        self._data = data
        return data

    @property
    def processed_path(self) -> str:
        """``<cache_dir>/<name>-<key>.safetensors``; the key hashes the bytes of the eight raw files."""
        files = [osp.join(self.raw_dir, f"ind.{self.name.lower()}.{p}") for p in _RAW_PARTS]
        key = content_key(files, {"name": self.name, "reader": "read_planetoid_data", "format": 1})
        return osp.join(self.cache_dir, f"{self.name}-{key}.safetensors")

    def _processed(self) -> Data:
        """The public-split graph exactly as PyG's ``Planetoid(split="public")`` gives it.

        PyG's own processing writes ``processed/data.pt`` in place and reads it back with a fallback
        to ``torch.load(weights_only=False)``, so a planted file there would run code, and two runs
        processing at once can read each other's half-written file. Here the same reader
        (:func:`torch_geometric.io.planetoid.read_planetoid_data`) runs under a file lock, its
        tensors are written atomically as safetensors under a content key and read back without
        pickle (:mod:`zoo.data.cache`).
        """
        path = self.processed_path
        if not osp.isfile(path):
            with cache_lock(path):
                if not osp.isfile(path):
                    check_planetoid_raw(self.raw_dir, self.name)
                    data = read_planetoid_data(self.raw_dir, self.name)
                    save_tensors(path, {k: data[k] for k in _TENSORS}, {"name": self.name})
        tensors, _ = load_tensors(path, required=_TENSORS)
        return Data(**tensors)

    def _random_split(self, data: Data, num_classes: int) -> Data:
        generator = torch.Generator().manual_seed(self.seed)
        public_test = data.test_mask.clone()
        pool = ~public_test if self.exclude_public_test else torch.ones_like(public_test)
        train = torch.zeros(data.num_nodes, dtype=torch.bool)
        for c in range(num_classes):
            idx = ((data.y == c) & pool).nonzero().view(-1)
            if idx.numel() < self.num_train_per_class:
                raise ValueError(
                    f"data.num_train_per_class={self.num_train_per_class}: class {c} of {self.name} has only "
                    f"{idx.numel()} candidate nodes" + (" outside the public test mask" if self.exclude_public_test else "")
                )
            idx = idx[torch.randperm(idx.numel(), generator=generator)[: self.num_train_per_class]]
            train[idx] = True
        rest = (pool & ~train).nonzero().view(-1)
        rest = rest[torch.randperm(rest.numel(), generator=generator)]
        num_test = 0 if self.exclude_public_test else 1000
        num_val = rest.numel() - num_test if self.num_val is None else self.num_val
        if num_val + num_test > rest.numel():
            raise ValueError(
                f"data.num_val={self.num_val}: only {rest.numel() - num_test} nodes of {self.name} are left for "
                f"validation after {int(train.sum())} training" + ("" if self.exclude_public_test else " and 1,000 test")
                + " nodes"
            )
        data.train_mask = train
        data.val_mask = torch.zeros_like(train)
        data.val_mask[rest[:num_val]] = True
        if self.exclude_public_test:
            data.test_mask = public_test
        else:
            data.test_mask = torch.zeros_like(train)
            data.test_mask[rest[num_val : num_val + num_test]] = True
        return data

    def _validate(self, data: Data) -> None:
        if not torch.isfinite(data.x).all():
            raise ValueError(f"Planetoid {self.name} features contain NaN/inf (raw files in {self.raw_dir})")
        if data.edge_index.numel() and int(data.edge_index.max()) >= data.num_nodes:
            raise ValueError(
                f"Planetoid {self.name}: edge index {int(data.edge_index.max())} out of range for "
                f"{data.num_nodes} nodes (raw files in {self.raw_dir})"
            )

    def setup(self, stage: Optional[str] = None) -> None:
        self._load()

    # -- what the datamodule provides -------------------------------------------------------------
    @property
    def data(self) -> Data:
        return self._load()

    @property
    def num_features(self) -> int:
        return int(self.data.num_features)

    @property
    def num_classes(self) -> int:
        return int(self.data.y.max()) + 1

    @property
    def num_nodes(self) -> int:
        return int(self.data.num_nodes)



class _DownloadTarget:
    """The attributes :meth:`Planetoid.download` reads, so it can run without building a dataset."""

    url = Planetoid.url
    split = "public"

    def __init__(self, raw_dir: str, name: str) -> None:
        self.raw_dir = raw_dir
        self.name = name
        self.raw_file_names = [f"ind.{name.lower()}.{p}" for p in _RAW_PARTS]
