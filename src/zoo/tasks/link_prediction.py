"""Link prediction with an inner-product decoder (graph auto-encoder).

"Variational Graph Auto-Encoders" (Kipf & Welling, 2016), https://arxiv.org/abs/1611.07308
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import negative_sampling
from torchmetrics import MetricCollection
from torchmetrics.classification import BinaryAUROC, BinaryAveragePrecision

from zoo.tasks.base import OptimizerFactory, SchedulerFactory, ZooTask

__all__ = ["LinkPredictionTask"]


class LinkPredictionTask(ZooTask):
    r"""Score an edge by the inner product of its end points' embeddings.

    .. math::
        z = \mathrm{net}(X, A_{train}), \qquad
        p(i \sim j) = \sigma(z_i^\top z_j), \qquad
        \mathcal{L} = -\log p(i \sim j)_{(i,j) \in E_{train}}
            - \log\big(1 - p(i \sim j)\big)_{(i,j) \sim \text{negatives}}

    Negatives for training are drawn uniformly among non-edges, ``num_negatives`` per positive,
    every step. Validation/test score the batch's ``edge_label_index`` against ``edge_label``.

    Args:
        net: any ``net(x, edge_index) -> (|V|, d)`` encoder.
        optimizer: partial optimizer.
        scheduler: optional partial LR scheduler.
        num_negatives: negatives per training positive (default: ``1``).

    Metrics: ``train/loss``, ``val/auc``, ``val/ap``, ``val/auc_best``, ``test/auc``, ``test/ap``.
    """

    best_metrics = {"val/auc": "max"}

    def __init__(self, *, net: nn.Module, optimizer: OptimizerFactory,
                 scheduler: Optional[SchedulerFactory] = None, num_negatives: int = 1) -> None:
        super().__init__(optimizer=optimizer, scheduler=scheduler)
        if num_negatives < 1:
            raise ValueError(f"model.num_negatives={num_negatives}; expected an integer >= 1")
        self.save_hyperparameters(logger=False, ignore=["net", "optimizer", "scheduler"])
        self.net = net
        self.num_negatives = num_negatives

        def metrics(prefix: str) -> MetricCollection:
            return MetricCollection({"auc": BinaryAUROC(), "ap": BinaryAveragePrecision()}, prefix=prefix)

        self.val_metrics = metrics("val/")
        self.test_metrics = metrics("test/")

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.net(x, edge_index)

    @torch.no_grad()
    def embed(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.net(x, edge_index)

    @staticmethod
    def decode(z: Tensor, pairs: Tensor) -> Tensor:
        return (z[pairs[0]] * z[pairs[1]]).sum(dim=-1)

    def on_train_start(self) -> None:
        self.val_metrics.reset()

    def training_step(self, batch, batch_idx: int) -> Tensor:
        z = self(batch.x, batch.edge_index)
        positives = batch.edge_index
        negatives = negative_sampling(
            batch.edge_index, num_nodes=batch.num_nodes, num_neg_samples=positives.size(1) * self.num_negatives
        )
        logits = torch.cat([self.decode(z, positives), self.decode(z, negatives)])
        labels = torch.cat([torch.ones(positives.size(1)), torch.zeros(negatives.size(1))]).to(logits)
        loss = F.binary_cross_entropy_with_logits(logits, labels)
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=1)
        return loss

    def _evaluate(self, batch, metrics: MetricCollection) -> Tensor:
        z = self(batch.x, batch.edge_index)
        logits = self.decode(z, batch.edge_label_index)
        metrics.update(torch.sigmoid(logits), batch.edge_label.long())
        return F.binary_cross_entropy_with_logits(logits, batch.edge_label.to(logits))

    def validation_step(self, batch, batch_idx: int) -> None:
        loss = self._evaluate(batch, self.val_metrics)
        self.log("val/loss", loss, on_step=False, on_epoch=True, batch_size=1, sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        values = self.val_metrics.compute()
        self.val_metrics.reset()
        self.log_dict(values, prog_bar=True, sync_dist=True)
        self.log_best(values)

    def test_step(self, batch, batch_idx: int) -> None:
        loss = self._evaluate(batch, self.test_metrics)
        self.log("test/loss", loss, on_step=False, on_epoch=True, batch_size=1, sync_dist=True)

    def on_test_epoch_end(self) -> None:
        values = self.test_metrics.compute()
        self.test_metrics.reset()
        self.log_dict(values, sync_dist=True)
