"""Supervised classification of ``(x, y)`` batches: the old and the reference model of a model update."""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from zoo.tasks.base import OptimizerFactory, SchedulerFactory, ZooTask

__all__ = ["ClassificationTask"]


class ClassificationTask(ZooTask):
    r"""Cross-entropy :math:`-\log \mathrm{softmax}(f(x))_y` on ``(x, y)`` batches.

    Args:
        net: maps ``x`` to ``(N, num_classes)`` logits.
        num_classes: number of classes (``${datamodule:num_classes}``).
        optimizer: partial optimizer.
        scheduler: optional partial LR scheduler.
        scheduler_interval: ``"epoch"`` or ``"step"`` (default: ``"epoch"``).
        label_smoothing: cross-entropy label smoothing (default: ``0.0``).

    Metrics: ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc``, ``val/acc_best``,
    ``test/loss``, ``test/acc``.
    """

    best_metrics = {"val/acc": "max"}

    def __init__(
        self,
        *,
        net: nn.Module,
        num_classes: int,
        optimizer: OptimizerFactory,
        scheduler: Optional[SchedulerFactory] = None,
        scheduler_interval: str = "epoch",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(optimizer=optimizer, scheduler=scheduler, scheduler_interval=scheduler_interval)
        self.save_hyperparameters(logger=False, ignore=["net", "optimizer", "scheduler", "loss"])
        if num_classes < 2:
            raise ValueError(f"model.num_classes={num_classes!r}; expected at least 2")
        self.net = net
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing
        self.train_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes, average="micro")
        self.train_loss = MeanMetric()

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def predictions_and_targets(self, batch: Any) -> tuple[Tensor, Tensor]:
        """``(logits, y)`` of a batch: what negative-flip evaluation compares across checkpoints."""
        x, y = batch[0], batch[1]
        return self(x), y

    def training_loss(self, logits: Tensor, x: Tensor, y: Tensor) -> Tensor:
        """The training objective (subclasses add terms)."""
        return F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)

    def on_train_start(self) -> None:
        # validation during the sanity check must not count towards the first epoch's value
        self.val_acc.reset()

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = batch[0], batch[1]
        logits = self(x)
        loss = self.training_loss(logits, x, y)
        self.train_acc(logits, y)
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=y.numel())
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, batch_size=y.numel())
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        logits, y = self.predictions_and_targets(batch)
        loss = F.cross_entropy(logits, y)
        self.val_acc.update(logits, y)
        self.log("val/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=y.numel(), sync_dist=True)
        self.validation_extra(batch, logits, y)

    def validation_extra(self, batch: Any, logits: Tensor, y: Tensor) -> None:
        """Hook for subclasses' extra validation metrics."""

    def on_validation_epoch_end(self) -> None:
        acc = self.val_acc.compute()
        self.val_acc.reset()
        self.log("val/acc", acc, prog_bar=True, sync_dist=True)
        self.log_best({"val/acc": acc})

    def test_step(self, batch: Any, batch_idx: int) -> None:
        logits, y = self.predictions_and_targets(batch)
        loss = F.cross_entropy(logits, y)
        self.test_acc.update(logits, y)
        self.log("test/loss", loss, on_step=False, on_epoch=True, batch_size=y.numel(), sync_dist=True)
        self.log("test/acc", self.test_acc, on_step=False, on_epoch=True, batch_size=y.numel(), sync_dist=True)
        self.test_extra(batch, logits, y)

    def test_extra(self, batch: Any, logits: Tensor, y: Tensor) -> None:
        """Hook for subclasses' extra test metrics."""

    def predict_step(self, batch: Any, batch_idx: int) -> dict[str, Tensor]:
        """One row per sample: ``class``, its softmax ``probability`` and the ``label`` when the batch has one."""
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        best = self(x).softmax(dim=-1).max(dim=-1)
        rows = {"class": best.indices, "probability": best.values}
        if isinstance(batch, (tuple, list)) and len(batch) > 1 and torch.is_tensor(batch[1]):
            rows["label"] = batch[1]
        return rows
