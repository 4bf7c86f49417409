"""Link prediction splits of a Planetoid graph (edges held out for validation and test).

Edges are split with PyG's :class:`~torch_geometric.transforms.RandomLinkSplit` (undirected,
85/5/10 by default, one sampled negative per positive for validation/test), as in the graph
auto-encoder of Kipf & Welling, "Variational Graph Auto-Encoders" (2016),
https://arxiv.org/abs/1611.07308. The split is drawn once with a seeded generator and identical on
every process.

=======  ======  ====================  ==========  ==========
Name     nodes   undirected edges      val edges   test edges
=======  ======  ====================  ==========  ==========
Cora     2,708   5,278                 263         527
=======  ======  ====================  ==========  ==========
"""

from __future__ import annotations

import random
from typing import Optional

import torch
from lightning.pytorch import LightningDataModule
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader
from torch_geometric.transforms import RandomLinkSplit

from zoo.data.planetoid import PlanetoidDataModule

__all__ = ["PlanetoidLinkDataModule"]


class PlanetoidLinkDataModule(LightningDataModule):
    """A Planetoid graph whose edges are split for link prediction; each stage is one full batch.

    The training batch's ``edge_index`` holds only training edges (message passing and positives);
    validation/test batches carry ``edge_label_index`` (held-out positives plus as many sampled
    negatives) and ``edge_label`` (1/0), with message passing over the training (+ validation for
    test) edges.

    Args:
        root: folder holding ``<name>/raw`` (``paths.data_dir/planetoid``).
        cache_dir: processed-tensor cache.
        name: ``Cora``, ``CiteSeer`` or ``PubMed``.
        val_fraction: share of edges for validation (default: ``0.05``).
        test_fraction: share of edges for test (default: ``0.10``).
        seed: split seed (default: ``0``).
        download: fetch raw files when missing.
    """

    def __init__(self, *, root: str, cache_dir: str, name: str = "Cora", val_fraction: float = 0.05,
                 test_fraction: float = 0.10, seed: int = 0, download: bool = True) -> None:
        super().__init__()
        for key, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            if not 0.0 < value < 1.0:
                raise ValueError(f"data.{key}={value}; expected a fraction in (0, 1)")
        if val_fraction + test_fraction >= 1.0:
            raise ValueError(
                f"data.val_fraction + data.test_fraction = {val_fraction + test_fraction}; expected < 1"
            )
        self.graph = PlanetoidDataModule(root=root, cache_dir=cache_dir, name=name, download=download)
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.seed = seed
        self._splits: Optional[tuple[Data, Data, Data]] = None

    def prepare_data(self) -> None:
        self.graph.prepare_data()

    @property
    def splits(self) -> tuple[Data, Data, Data]:
        if self._splits is None:
            data = self.graph.data
            data = Data(x=data.x, edge_index=data.edge_index, y=data.y, num_nodes=data.num_nodes)
            transform = RandomLinkSplit(
                num_val=self.val_fraction, num_test=self.test_fraction, is_undirected=True,
                add_negative_train_samples=False, split_labels=False,
            )
            # RandomLinkSplit draws from torch's and (negatives) Python's global RNGs: seed and restore
            # both so the split depends on ``seed`` only
            py_state = random.getstate()
            try:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(self.seed)
                    random.seed(self.seed)
                    self._splits = transform(data)
            finally:
                random.setstate(py_state)
        return self._splits

    def setup(self, stage: Optional[str] = None) -> None:
        self.splits  # noqa: B018 - build once

    @property
    def num_features(self) -> int:
        return self.graph.num_features

    @property
    def num_classes(self) -> int:
        return self.graph.num_classes

    @property
    def num_nodes(self) -> int:
        return self.graph.num_nodes

    def train_dataloader(self) -> DataLoader:
        return DataLoader([self.splits[0]], batch_size=1)

    def val_dataloader(self) -> DataLoader:
        return DataLoader([self.splits[1]], batch_size=1)

    def test_dataloader(self) -> DataLoader:
        return DataLoader([self.splits[2]], batch_size=1)
