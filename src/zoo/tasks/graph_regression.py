"""Graph-level regression on mini-batches of graphs, trained and evaluated with mean absolute error."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MeanAbsoluteError

from zoo.tasks.base import OptimizerFactory, SchedulerFactory, ZooTask

__all__ = ["GraphRegressionTask"]


class GraphRegressionTask(ZooTask):
    r"""L1 regression of one scalar per graph (ZINC, Dwivedi et al. https://arxiv.org/abs/2003.00982).

    .. math:: \mathcal{L} = \frac{1}{B} \sum_{g} \lvert \mathrm{net}(G_g) - y_g \rvert

    Args:
        net: ``net(x, edge_index, edge_attr, batch) -> (B, 1)``.
        optimizer: partial optimizer.
        scheduler: optional partial LR scheduler (``ReduceLROnPlateau`` needs ``scheduler_monitor``).
        scheduler_monitor: metric the scheduler watches (default: ``None``).

    Metrics: ``train/loss``, ``val/mae``, ``val/mae_best``, ``test/mae``.
    """

    best_metrics = {"val/mae": "min"}

    def __init__(self, *, net: nn.Module, optimizer: OptimizerFactory, scheduler: Optional[SchedulerFactory] = None,
                 scheduler_monitor: Optional[str] = None) -> None:
        super().__init__(optimizer=optimizer, scheduler=scheduler, scheduler_monitor=scheduler_monitor)
        self.save_hyperparameters(logger=False, ignore=["net", "optimizer", "scheduler"])
        self.net = net
        self.val_mae = MeanAbsoluteError()
        self.test_mae = MeanAbsoluteError()

    def forward(self, batch) -> Tensor:
        return self.net(batch.x, batch.edge_index, batch.edge_attr, batch.batch).view(-1)

    def on_train_start(self) -> None:
        self.val_mae.reset()

    def training_step(self, batch, batch_idx: int) -> Tensor:
        loss = F.l1_loss(self(batch), batch.y.view(-1))
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=batch.num_graphs)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        self.val_mae.update(self(batch), batch.y.view(-1))

    def on_validation_epoch_end(self) -> None:
        value = self.val_mae.compute()
        self.val_mae.reset()
        self.log("val/mae", value, prog_bar=True, sync_dist=True)
        self.log_best({"val/mae": value})

    def test_step(self, batch, batch_idx: int) -> None:
        self.test_mae.update(self(batch), batch.y.view(-1))

    def on_test_epoch_end(self) -> None:
        self.log("test/mae", self.test_mae.compute(), sync_dist=True)
        self.test_mae.reset()
