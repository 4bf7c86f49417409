"""Base class for datamodules that serve one whole graph per step (full-batch training)."""

from __future__ import annotations

from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader
from torch_geometric.data import Data


def _the_graph(items: list) -> Data:
    """Collate a batch of one graph into that graph itself: no copy of its tensors per step."""
    return items[0]


class FullGraphDataModule(LightningDataModule):
    """Every dataloader yields :attr:`data` once: the train/val/test split lives in masks on the graph.

    Subclasses implement :attr:`data` (load or build the graph, cached after the first call); this is
    how GCN, GAT and TANGNN train on Planetoid-sized graphs (one optimisation step per epoch).
    Every step receives the same :class:`~torch_geometric.data.Data` object (not a collated copy), so
    per-graph structures built by the nets (the CSR of TANGNN's aggregation) are reused.
    """

    @property
    def data(self) -> Data:
        raise NotImplementedError(f"{type(self).__name__} must define the `data` property")

    def _loader(self) -> DataLoader:
        return DataLoader([self.data], batch_size=1, shuffle=False, collate_fn=_the_graph)

    def train_dataloader(self) -> DataLoader:
        return self._loader()

    def val_dataloader(self) -> DataLoader:
        return self._loader()

    def test_dataloader(self) -> DataLoader:
        return self._loader()

    def predict_dataloader(self) -> DataLoader:
        return self._loader()
