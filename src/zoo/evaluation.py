"""Evaluation loops beside the cli: prediction files, and negative flips between two checkpoints.

* :func:`write_predictions` is what ``eval.py ckpt_path=... eval.split=predict`` runs: the task's
  ``predict_step`` over the test split (Lightning's predict loop), one CSV row per test item.
* :func:`checkpoint_flip_metrics` is what ``eval.py ckpt_path=NEW eval.reference_ckpt=OLD`` reports:
  both models predict on the same test (or val) loader of NEW's datamodule and
  :class:`NegativeFlipRate` compares them on the samples whose label the reference knows
  (``y < num_classes(OLD)``: the old classes when OLD was trained on a class-incremental ``old``
  view, every sample otherwise). See "Positive-Congruent Training" (Yan et al., CVPR 2021),
  https://arxiv.org/abs/2011.09161.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, Iterable, Optional

import torch
from lightning.pytorch import LightningDataModule, LightningModule
from torch import Tensor
from torchmetrics.classification import MulticlassAccuracy

from zoo.checkpoints import datamodule_signature, load_checkpoint_classifier, same_dataset
from zoo.metrics.negative_flip_rate import NegativeFlipRate, as_labels

__all__ = ["predictions_and_targets", "negative_flips_between", "checkpoint_flip_metrics", "predict_rows",
           "write_predictions"]


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
def predictions_and_targets(task: LightningModule, batch: Any, batch_idx: int,
                            split: str = "test") -> tuple[Tensor, Tensor]:
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
    mask = getattr(batch, f"{split}_mask", None)
    if torch.is_tensor(mask) and torch.is_tensor(getattr(batch, "edge_index", None)):  # one full graph
        return as_labels(task(batch.x, batch.edge_index))[mask], batch.y[mask]
    preds = task.predict_step(batch, batch_idx)
    if isinstance(preds, dict):  # prediction rows (write_predictions)
        preds = preds["class"]
    if isinstance(batch, (tuple, list)) and torch.is_tensor(batch[-1]):
        target = batch[-1]
    elif isinstance(batch, dict) and any(k in batch for k in ("y", "label", "labels")):
        target = next(batch[k] for k in ("y", "label", "labels") if k in batch)
    elif torch.is_tensor(getattr(batch, "y", None)):
        target = batch.y
    else:
        raise ValueError(f"{type(task).__name__}: cannot find the targets of a {type(batch).__name__} batch")
    return as_labels(preds), target


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


# -- prediction files ------------------------------------------------------------------------------
def _columns(outputs: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Concatenate ``predict_step``'s per-batch column dicts into one column dict."""
    if not outputs:
        return {}
    names = list(outputs[0])
    for out in outputs:
        if not isinstance(out, dict) or list(out) != names:
            raise ValueError(f"predict_step must return the same dict of columns for every batch; got {list(out)} "
                             f"after {names}")
    return {name: torch.cat([out[name].detach().cpu() for out in outputs]) for name in names}


def _predict(task: LightningModule, datamodule: LightningDataModule, trainer: Any) -> dict[str, Tensor]:
    """Lightning's predict loop over the test split (the datamodule's test loader)."""
    from lightning.pytorch.utilities.model_helpers import is_overridden

    if not is_overridden("predict_step", task, LightningModule):
        raise ValueError(f"{type(task).__name__} has no predict_step: eval.split=predict is not supported for it")
    # predictions are for the test split, whatever the datamodule's own predict_dataloader serves
    datamodule.predict_dataloader = datamodule.test_dataloader
    try:
        outputs = trainer.predict(model=task, datamodule=datamodule)
    finally:
        del datamodule.predict_dataloader
    return _columns(outputs or [])


def predict_rows(task: LightningModule, datamodule: LightningDataModule, trainer: Any,
                 reference_ckpt: Optional[str] = None) -> dict[str, Tensor]:
    """The task's predictions on every test item, as columns of equal length.

    The first column, ``row``, is the position in the test split. With ``reference_ckpt`` (a
    classifier of the same dataset), ``reference_class`` and ``reference_correct`` are added.
    """
    columns = _predict(task, datamodule, trainer)
    n = len(next(iter(columns.values()))) if columns else 0
    columns = {"row": torch.arange(n), **columns}
    if reference_ckpt is not None:
        reference = load_checkpoint_classifier(reference_ckpt, "eval.reference_ckpt")
        current = datamodule_signature(datamodule)
        if not same_dataset(reference.data, current):
            raise ValueError(f"eval.reference_ckpt={reference_ckpt!r} was trained on {reference.data}, "
                             f"not on this checkpoint's dataset {current}")
        ref_columns = _predict(reference.task, datamodule, trainer)
        if "class" not in ref_columns or len(ref_columns["class"]) != n:
            raise ValueError(f"eval.reference_ckpt={reference_ckpt!r} gave no 'class' column of {n} rows")
        columns["reference_class"] = ref_columns["class"]
        if "label" in columns:
            columns["reference_correct"] = ref_columns["class"] == columns["label"]
    return columns


def write_predictions(task: LightningModule, datamodule: LightningDataModule, trainer: Any, path: str | Path,
                      top_k: int = 10, reference_ckpt: Optional[str] = None) -> list[dict[str, Any]]:
    """Write ``path`` (CSV): one row per test item; a 2-D column ``c`` becomes ``c_1 ... c_k``.

    :param top_k: KGE tasks: how many best-scored tails per row (``eval.top_k``).
    :returns: the rows written.
    """
    if top_k < 1:
        raise ValueError(f"eval.top_k={top_k!r}; expected a positive int")
    if hasattr(task, "predict_top_k"):
        task.predict_top_k = int(top_k)
    columns = predict_rows(task, datamodule, trainer, reference_ckpt)
    header: list[str] = []
    flat: list[list[Any]] = []
    for name, values in columns.items():
        values = values.cpu()
        if values.dim() == 1:
            header.append(name)
            flat.append(values.tolist())
        else:
            header.extend(f"{name}_{j + 1}" for j in range(values.size(1)))
            flat.extend(values[:, j].tolist() for j in range(values.size(1)))
    rows = [dict(zip(header, items)) for items in zip(*flat)]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (int(v) if isinstance(v, bool) else
                                 f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    os.replace(tmp, path)
    return rows
