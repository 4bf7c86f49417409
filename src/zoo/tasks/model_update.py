"""Replacing an old classifier by a new one with fewer negative flips: no treatment, PCT and MPT.

"Margin-Preserving Training against Negative Flips" (arXiv 2511.08322); PCT is "Positive-Congruent
Training: Towards Regression-Free Model Updates" (Yan et al., CVPR 2021), https://arxiv.org/abs/2011.09161.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy

from zoo.checkpoints import (
    CheckpointClassifier, datamodule_signature, load_checkpoint_classifier, same_dataset,
)
from zoo.metrics.negative_flip_rate import NegativeFlipRate
from zoo.objectives.margin_preserving_loss import MarginPreservingLoss
from zoo.tasks.base import OptimizerFactory, SchedulerFactory
from zoo.tasks.classification import ClassificationTask

__all__ = ["ModelUpdateTask"]


class ModelUpdateTask(ClassificationTask):
    r"""Train the new model (from scratch) on all ``C`` classes with :class:`MarginPreservingLoss`,
    distilling from a frozen old model (first ``K`` classes) and optionally a frozen reference model.

    .. math::
        \mathcal{L} = \mathrm{CE}(z + b\,\mathbb{1}[c \geq K], y)
        + \lambda_{old}\,\mathrm{FD}(z_{:,<K}, z^{old}) + \lambda_{ref}\,\mathrm{FD}(z, z^{ref})

    The margin bias ``b`` is applied in the training loss only; validation, test and prediction
    use the plain logits. Both teachers are rebuilt from zoo checkpoints (their config is stored in
    the checkpoint) and kept frozen in eval mode; their weights are saved in this task's
    checkpoints too, but ``old_ckpt`` (and ``reference_ckpt`` when used) must still exist when the
    task is rebuilt.

    Args:
        net: the new model, ``x -> (N, C)`` logits.
        num_classes: ``C`` (``${datamodule:num_classes}``, the ``all`` view).
        num_old_classes: ``K`` (``${datamodule:num_old_classes}``); ``1 <= K < C``.
        old_ckpt: checkpoint of the old model, trained on the first ``K`` classes of the same dataset.
        reference_ckpt: checkpoint of an independently trained new model on the same ``C`` classes;
            required when ``loss.reference_weight > 0`` (default: ``None``).
        loss: the objective (its ``num_old_classes`` must equal ``K``).
        optimizer, scheduler, scheduler_interval: as in :class:`ClassificationTask`.

    Metrics (besides :class:`ClassificationTask`'s): ``train/ce``, ``train/fd_old``, ``train/fd_ref``,
    ``val/nfr``, ``test/nfr``, ``test/rnfr`` (negative flips w.r.t. the old model on old-class
    samples) and ``test/old_acc`` (accuracy on old-class samples).
    """

    def __init__(
        self,
        *,
        net: nn.Module,
        num_classes: int,
        num_old_classes: int,
        old_ckpt: Optional[str],
        loss: MarginPreservingLoss,
        optimizer: OptimizerFactory,
        reference_ckpt: Optional[str] = None,
        scheduler: Optional[SchedulerFactory] = None,
        scheduler_interval: str = "epoch",
    ) -> None:
        super().__init__(net=net, num_classes=num_classes, optimizer=optimizer, scheduler=scheduler,
                         scheduler_interval=scheduler_interval)
        self.save_hyperparameters(logger=False, ignore=["net", "optimizer", "scheduler", "loss"])
        if not isinstance(num_old_classes, int) or not 1 <= num_old_classes < num_classes:
            raise ValueError(
                f"model.num_old_classes={num_old_classes!r}; expected an int in [1, {num_classes - 1}] "
                f"(fewer than model.num_classes={num_classes})"
            )
        if loss.num_old_classes != num_old_classes:
            raise ValueError(
                f"model.loss.num_old_classes={loss.num_old_classes} != model.num_old_classes={num_old_classes}"
            )
        self.num_old_classes = num_old_classes
        self.loss_fn = loss

        old = load_checkpoint_classifier(old_ckpt, "model.old_ckpt")
        if old.num_classes != num_old_classes:
            raise ValueError(
                f"model.old_ckpt={old_ckpt!r} was trained on {old.num_classes} classes; "
                f"expected model.num_old_classes={num_old_classes}"
            )
        self._old_info = old
        if loss.uses_reference and reference_ckpt is None:
            raise ValueError(
                f"model.reference_ckpt is required when model.loss.reference_weight={loss.reference_weight} > 0"
            )
        self.old_net = old.net
        self._ref_info: Optional[CheckpointClassifier] = None
        self.reference_net: Optional[nn.Module] = None
        if reference_ckpt is not None:
            ref = load_checkpoint_classifier(reference_ckpt, "model.reference_ckpt")
            if ref.num_classes != num_classes:
                raise ValueError(
                    f"model.reference_ckpt={reference_ckpt!r} was trained on {ref.num_classes} classes; "
                    f"expected model.num_classes={num_classes}"
                )
            if not same_dataset(ref.data, old.data):
                raise ValueError(
                    f"model.reference_ckpt={reference_ckpt!r} was trained on {ref.data}, but "
                    f"model.old_ckpt on {old.data}; both must use the same dataset"
                )
            self._ref_info = ref
            self.reference_net = ref.net
        for teacher in (self.old_net, self.reference_net):
            if teacher is not None:
                teacher.requires_grad_(False)

        self.test_old_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_nfr = NegativeFlipRate(num_old_classes=num_old_classes)
        self.test_nfr = NegativeFlipRate(num_old_classes=num_old_classes)
        self.test_rnfr = NegativeFlipRate(num_old_classes=num_old_classes, relative=True)

    # -- teachers stay frozen and in eval mode ----------------------------------------------------
    def train(self, mode: bool = True) -> "ModelUpdateTask":
        super().train(mode)
        for teacher in (self.old_net, self.reference_net):
            if teacher is not None:
                teacher.eval()
        return self

    def setup(self, stage: str) -> None:
        """Check that the datamodule is the dataset the teachers were trained on."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if datamodule is None:
            return
        current = datamodule_signature(datamodule)
        for key, info in (("model.old_ckpt", self._old_info), ("model.reference_ckpt", self._ref_info)):
            if info is not None and not same_dataset(info.data, current):
                raise ValueError(
                    f"{key}={info.path!r} was trained on {info.data}, but this run's datamodule is {current}"
                )

    @torch.no_grad()
    def old_logits(self, x: Tensor) -> Tensor:
        return self.old_net(x)

    @torch.no_grad()
    def reference_logits(self, x: Tensor) -> Tensor:
        if self.reference_net is None:
            raise ValueError("model.reference_ckpt is not set")
        return self.reference_net(x)

    # -- training ---------------------------------------------------------------------------------
    def training_loss(self, logits: Tensor, x: Tensor, y: Tensor) -> Tensor:
        old = self.old_logits(x) if self.loss_fn.uses_old else None
        ref = self.reference_logits(x) if self.loss_fn.uses_reference else None
        loss, parts = self.loss_fn(logits, y, old, ref)
        for name, value in parts.items():
            self.log(f"train/{name}", value, on_step=False, on_epoch=True, batch_size=y.numel())
        return loss

    # -- evaluation -------------------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self.val_nfr.reset()

    def validation_extra(self, batch: Any, logits: Tensor, y: Tensor) -> None:
        self.val_nfr.update(logits, self.old_logits(batch[0]), y)

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        self.log("val/nfr", self.val_nfr.compute(), sync_dist=True)

    def test_extra(self, batch: Any, logits: Tensor, y: Tensor) -> None:
        old = self.old_logits(batch[0])
        self.test_nfr.update(logits, old, y)
        self.test_rnfr.update(logits, old, y)
        seen = y < self.num_old_classes
        if seen.any():
            self.test_old_acc.update(logits[seen], y[seen])

    def on_test_epoch_end(self) -> None:
        self.log("test/nfr", self.test_nfr.compute(), sync_dist=True)
        self.log("test/rnfr", self.test_rnfr.compute(), sync_dist=True)
        self.log("test/old_acc", self.test_old_acc.compute(), sync_dist=True)
        for metric in (self.test_nfr, self.test_rnfr, self.test_old_acc):
            metric.reset()

    def predict_step(self, batch: Any, batch_idx: int) -> dict[str, Tensor]:
        """The rows of :meth:`ClassificationTask.predict_step` plus ``old_class`` and
        ``reference_correct``: whether the old model (``model.old_ckpt``) got the sample right."""
        rows = super().predict_step(batch, batch_idx)
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        rows["old_class"] = self.old_logits(x).argmax(dim=-1)
        if "label" in rows:
            rows["reference_correct"] = rows["old_class"] == rows["label"]
        return rows
