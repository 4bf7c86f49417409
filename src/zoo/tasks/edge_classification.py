"""Full-batch edge classification (citation sentiment): weighted cross-entropy, macro and per-class F1."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from zoo.tasks.base import OptimizerFactory, SchedulerFactory, ZooTask

__all__ = ["EdgeClassificationTask"]


class EdgeClassificationTask(ZooTask):
    r"""Classify the labelled edges of one graph; class weights counter heavy imbalance.

    .. math::
        \mathcal{L} = -\frac{1}{\sum_s w_{y_s}} \sum_{s \in \text{train}} w_{y_s} \log p(y_s \mid s)

    The batch carries ``x``, ``edge_index`` (message passing), ``sentence_index`` ``(2, S)``,
    ``sentence_x`` ``(S, D)``, ``sentence_y`` and ``train_mask``/``val_mask``/``test_mask`` over the
    ``S`` labelled edges (see :class:`zoo.data.citation_sentiment.CitationSentimentDataModule`).

    Args:
        net: ``net(x, edge_index, pairs, edge_attr) -> (S, C)`` logits.
        num_classes: number of classes (from the datamodule).
        optimizer: partial optimizer.
        scheduler: optional partial LR scheduler.
        class_weights: per-class loss weights (e.g. ``${datamodule:class_weights}``), or ``None``.
        class_names: names for the per-class F1 metrics (default: ``class0``, ...).

    Metrics: ``train/loss``, ``{val,test}/f1`` (macro), ``{val,test}/f1_<class>``, ``{val,test}/acc``,
    ``val/loss``, ``val/f1_best``.
    """

    best_metrics = {"val/f1": "max"}

    def __init__(self, *, net: nn.Module, num_classes: int, optimizer: OptimizerFactory,
                 scheduler: Optional[SchedulerFactory] = None, class_weights: Optional[Sequence[float]] = None,
                 class_names: Optional[Sequence[str]] = None) -> None:
        super().__init__(optimizer=optimizer, scheduler=scheduler)
        if class_weights is not None and len(class_weights) != num_classes:
            raise ValueError(
                f"model.class_weights has {len(class_weights)} values; expected num_classes={num_classes}"
            )
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f"model.class_names={list(class_names)}; expected {num_classes} names")
        self.save_hyperparameters(logger=False, ignore=["net", "optimizer", "scheduler"])
        self.net = net
        self.num_classes = num_classes
        self.class_names = list(class_names) if class_names is not None else [f"class{c}" for c in range(num_classes)]
        weight = torch.tensor(class_weights, dtype=torch.float) if class_weights is not None else None
        self.register_buffer("class_weight", weight)

        def metrics() -> MetricCollection:
            return MetricCollection({
                "f1": MulticlassF1Score(num_classes, average="macro"),
                "f1_per_class": MulticlassF1Score(num_classes, average=None),
                "acc": MulticlassAccuracy(num_classes, average="micro"),
            })

        self.val_metrics = metrics()
        self.test_metrics = metrics()

    def forward(self, batch) -> Tensor:
        return self.net(batch.x, batch.edge_index, batch.sentence_index, batch.sentence_x)

    @torch.no_grad()
    def embed(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.net.embed(x, edge_index)

    def _step(self, batch, mask_name: str) -> tuple[Tensor, Tensor, Tensor]:
        mask = getattr(batch, mask_name)
        logits = self(batch)[mask]
        y = batch.sentence_y[mask]
        return F.cross_entropy(logits, y, weight=self.class_weight), logits, y

    def _flatten(self, values: dict[str, Tensor], stage: str) -> dict[str, Tensor]:
        out = {f"{stage}/f1": values["f1"], f"{stage}/acc": values["acc"]}
        for name, value in zip(self.class_names, values["f1_per_class"]):
            out[f"{stage}/f1_{name}"] = value
        return out

    def on_train_start(self) -> None:
        self.val_metrics.reset()

    def training_step(self, batch, batch_idx: int) -> Tensor:
        loss, _, y = self._step(batch, "train_mask")
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=y.numel())
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        loss, logits, y = self._step(batch, "val_mask")
        self.val_metrics.update(logits, y)
        self.log("val/loss", loss, on_step=False, on_epoch=True, batch_size=y.numel(), sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        values = self._flatten(self.val_metrics.compute(), "val")
        self.val_metrics.reset()
        self.log_dict(values, prog_bar=False, sync_dist=True)
        self.log_best(values)

    def test_step(self, batch, batch_idx: int) -> None:
        loss, logits, y = self._step(batch, "test_mask")
        self.test_metrics.update(logits, y)
        self.log("test/loss", loss, on_step=False, on_epoch=True, batch_size=y.numel(), sync_dist=True)

    def on_test_epoch_end(self) -> None:
        values = self._flatten(self.test_metrics.compute(), "test")
        self.test_metrics.reset()
        self.log_dict(values, sync_dist=True)
