"""Full-batch node classification on one graph (train/val/test node masks)."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from zoo.tasks.base import OptimizerFactory, SchedulerFactory, ZooTask

__all__ = ["NodeClassificationTask"]


class NodeClassificationTask(ZooTask):
    """Cross-entropy on the training nodes; accuracy and macro-F1 on the val/test nodes.

    The net maps ``(x, edge_index)`` to class logits for every node; the batch is a PyG ``Data``
    (or ``Batch``) with ``train_mask``, ``val_mask`` and ``test_mask``.

    Args:
        net: the node classifier.
        num_classes: number of classes (read from the datamodule in the config).
        optimizer: partial optimizer.
        scheduler: optional partial LR scheduler.
        label_smoothing: cross-entropy label smoothing (default: ``0.0``).

    Metrics: ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc``, ``val/f1``, ``val/acc_best``,
    ``test/loss``, ``test/acc``, ``test/f1``.
    """

    best_metrics = {"val/acc": "max"}

    def __init__(
        self,
        *,
        net: nn.Module,
        num_classes: int,
        optimizer: OptimizerFactory,
        scheduler: Optional[SchedulerFactory] = None,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(optimizer=optimizer, scheduler=scheduler)
        self.save_hyperparameters(logger=False, ignore=["net", "optimizer", "scheduler"])
        self.net = net
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing

        def metrics(prefix: str) -> MetricCollection:
            return MetricCollection(
                {
                    "acc": MulticlassAccuracy(num_classes, average="micro"),
                    "f1": MulticlassF1Score(num_classes, average="macro"),
                },
                prefix=prefix,
            )

        self.train_metrics = metrics("train/")
        self.val_metrics = metrics("val/")
        self.test_metrics = metrics("test/")
        self.train_loss = MeanMetric()

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.net(x, edge_index)

    @torch.no_grad()
    def embed(self, x: Tensor, edge_index: Tensor) -> Tensor:
        """Hidden node representations, when the net exposes ``embed`` (else the logits)."""
        fn = getattr(self.net, "embed", None)
        return fn(x, edge_index) if fn is not None else self.net(x, edge_index)

    def _step(self, batch, mask_name: str) -> tuple[Tensor, Tensor, Tensor]:
        logits = self(batch.x, batch.edge_index)
        mask = getattr(batch, mask_name)
        loss = F.cross_entropy(
            logits[mask], batch.y[mask], label_smoothing=self.label_smoothing
        )
        return loss, logits[mask], batch.y[mask]

    def on_train_start(self) -> None:
        # validation during the sanity check must not count towards the first epoch's value
        self.val_metrics.reset()

    def training_step(self, batch, batch_idx: int) -> Tensor:
        loss, logits, y = self._step(batch, "train_mask")
        self.train_metrics.update(logits, y)
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=y.numel())
        self.log_dict(self.train_metrics, on_step=False, on_epoch=True, batch_size=y.numel())
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        loss, logits, y = self._step(batch, "val_mask")
        self.val_metrics.update(logits, y)
        self.log("val/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=y.numel(), sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        values = self.val_metrics.compute()
        self.val_metrics.reset()
        self.log_dict(values, prog_bar=True, sync_dist=True)
        self.log_best(values)

    def test_step(self, batch, batch_idx: int) -> None:
        loss, logits, y = self._step(batch, "test_mask")
        self.test_metrics.update(logits, y)
        self.log("test/loss", loss, on_step=False, on_epoch=True, batch_size=y.numel(), sync_dist=True)
        self.log_dict(self.test_metrics, on_step=False, on_epoch=True, batch_size=y.numel())

    def predict_step(self, batch, batch_idx: int) -> dict[str, Tensor]:
        """One row per test node: ``id`` (node index), ``class``, its softmax ``probability``, ``label``."""
        probs = self(batch.x, batch.edge_index).softmax(dim=-1)
        mask = batch.test_mask
        best = probs[mask].max(dim=-1)
        return {"id": mask.nonzero().squeeze(1), "class": best.indices, "probability": best.values,
                "label": batch.y[mask]}
