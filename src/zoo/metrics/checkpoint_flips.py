"""Negative flips between two checkpoints of the same dataset, for any classification task.

What ``eval.py ckpt_path=NEW eval.reference_ckpt=OLD`` reports: both models predict on the same
test (or val) loader of NEW's datamodule and :class:`NegativeFlipRate` compares them on the
samples whose label the reference knows (``y < num_classes(OLD)``: the old classes when OLD was
trained on a class-incremental ``old`` view, every sample otherwise). See "Positive-Congruent
Training" (Yan et al., CVPR 2021), https://arxiv.org/abs/2011.09161.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

import torch
from lightning.pytorch import LightningDataModule, LightningModule
from torch import Tensor
from torchmetrics.classification import MulticlassAccuracy

from zoo.metrics.negative_flip_rate import NegativeFlipRate, as_labels

__all__ = ["predictions_and_targets", "negative_flips_between", "checkpoint_flip_metrics"]


def _move(batch: Any, device: torch.device) -> Any:
    if torch.is_tensor(batch):
        return batch.to(device)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_move(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _move(v, device) for k, v in batch.items()}
    to = getattr(batch, "to", None)
    return to(device) if callable(to) else batch


@torch.no_grad()
def predictions_and_targets(task: LightningModule, batch: Any, batch_idx: int, split: str = "test") -> tuple[Tensor, Tensor]:
    """Predicted labels and targets of one batch, for any zoo classification task.

    Uses ``task.predictions_and_targets(batch)`` when the task defines it; otherwise
    ``task.predict_step(batch, batch_idx)`` (logits or labels) with the targets read from the
    batch: the last tensor of a tuple, ``batch["y"]``/``batch["label"]``, or ``batch.y``; graph
    batches with a ``<split>_mask`` keep only the masked nodes.

    :raises ValueError: the batch holds no recognisable targets.
    """
    if hasattr(task, "predictions_and_targets"):
        preds, target = task.predictions_and_targets(batch)
        return as_labels(preds), target
    preds = task.predict_step(batch, batch_idx)
    if isinstance(batch, (tuple, list)) and torch.is_tensor(batch[-1]):
        target = batch[-1]
    elif isinstance(batch, dict) and any(k in batch for k in ("y", "label", "labels")):
        target = next(batch[k] for k in ("y", "label", "labels") if k in batch)
    elif torch.is_tensor(getattr(batch, "y", None)):
        target = batch.y
    else:
        raise ValueError(f"{type(task).__name__}: cannot find the targets of a {type(batch).__name__} batch")
    labels = as_labels(preds)
    mask = getattr(batch, f"{split}_mask", None)
    if torch.is_tensor(mask) and mask.numel() == labels.numel():
        labels, target = labels[mask], target[mask]
    return labels, target


@torch.no_grad()
def negative_flips_between(
    new: LightningModule,
    old: LightningModule,
    loader: Iterable[Any],
    num_old_classes: Optional[int],
    num_classes: int,
    split: str = "test",
    device: Optional[torch.device] = None,
    max_batches: Optional[int] = None,
) -> dict[str, float]:
    """``nfr``, ``rnfr``, ``acc`` (new model, all samples) and ``old_acc`` (new model, old classes).

    :param num_old_classes: labels ``< num_old_classes`` count (``None``: every sample).
    :param max_batches: stop after this many batches (``None``: the whole loader).
    """
    device = device or torch.device("cpu")
    new, old = new.to(device).eval(), old.to(device).eval()
    nfr = NegativeFlipRate(num_old_classes=num_old_classes).to(device)
    rnfr = NegativeFlipRate(num_old_classes=num_old_classes, relative=True).to(device)
    acc = MulticlassAccuracy(num_classes, average="micro").to(device)
    old_acc = MulticlassAccuracy(num_classes, average="micro").to(device)
    for batch_idx, batch in enumerate(loader):
        if max_batches is not None and batch_idx >= max_batches:
            break
        batch = _move(batch, device)
        new_labels, target = predictions_and_targets(new, batch, batch_idx, split)
        old_labels, old_target = predictions_and_targets(old, batch, batch_idx, split)
        if not torch.equal(target, old_target):
            raise ValueError("the two checkpoints read different targets from the same batch")
        nfr.update(new_labels, old_labels, target)
        rnfr.update(new_labels, old_labels, target)
        acc.update(new_labels, target)
        seen = target < num_old_classes if num_old_classes is not None else torch.ones_like(target, dtype=torch.bool)
        if seen.any():
            old_acc.update(new_labels[seen], target[seen])
    return {"nfr": float(nfr.compute()), "rnfr": float(rnfr.compute()),
            "acc": float(acc.compute()), "old_acc": float(old_acc.compute())}


def checkpoint_flip_metrics(
    model: LightningModule, datamodule: LightningDataModule, ckpt_path: str, reference_ckpt: str, split: str = "test"
) -> dict[str, float]:
    """Negative flips of ``model`` (loaded from ``ckpt_path``) w.r.t. the model in ``reference_ckpt``.

    Metric names: ``<split>/nfr``, ``<split>/rnfr``, ``<split>/acc``, ``<split>/old_acc``.

    :raises ValueError: the checkpoints were trained on different datasets, or the reference knows
        more classes than the evaluated model.
    :raises FileNotFoundError: ``reference_ckpt`` does not exist.
    """
    from zoo.tasks.checkpoint_classifier import datamodule_signature, load_checkpoint_classifier, same_dataset

    reference = load_checkpoint_classifier(reference_ckpt, "eval.reference_ckpt")
    current = datamodule_signature(datamodule)
    if not same_dataset(reference.data, current):
        raise ValueError(
            f"eval.reference_ckpt={reference_ckpt!r} was trained on {reference.data}, but "
            f"ckpt_path={ckpt_path!r} on {current}; negative flips need the same dataset"
        )
    num_classes = int(datamodule.num_classes)
    if reference.num_classes > num_classes:
        raise ValueError(
            f"eval.reference_ckpt={reference_ckpt!r} has {reference.num_classes} classes, more than the "
            f"{num_classes} of ckpt_path={ckpt_path!r}; pass the newer model as ckpt_path"
        )
    datamodule.setup("test" if split == "test" else "validate")
    loader = datamodule.test_dataloader() if split == "test" else datamodule.val_dataloader()
    num_old = reference.num_classes if reference.num_classes < num_classes else None
    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    # the same batches the trainer just evaluated (trainer.limit_test_batches / limit_val_batches)
    max_batches = None
    trainer = getattr(model, "_trainer", None)
    if trainer is not None:
        counts = trainer.num_test_batches if split == "test" else trainer.num_val_batches
        if counts and counts[0] != float("inf"):
            max_batches = int(counts[0])
    values = negative_flips_between(model, reference.task, loader, num_old, num_classes, split, device, max_batches)
    return {f"{split}/{k}": v for k, v in values.items()}
