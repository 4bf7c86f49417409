"""Rebuilding a trained zoo classifier from its checkpoint alone (frozen, for distillation and
negative-flip evaluation).

A zoo checkpoint stores the run's composed config under :data:`zoo.cli.CONFIG_KEY`; the saved
``data`` node is built (cheaply: datamodules load lazily) only to resolve the ``${datamodule:...}``
sizes of the saved ``model`` node, which is then built and loaded with the checkpoint's weights.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional

import hydra
import torch
from lightning.pytorch import LightningModule
from omegaconf import DictConfig, OmegaConf

__all__ = [
    "CheckpointClassifier", "load_checkpoint_classifier", "data_signature", "datamodule_signature",
    "same_dataset", "VIEW_TARGET",
]

VIEW_TARGET = "zoo.data.class_incremental.ClassIncrementalDataModule"


def data_signature(data_cfg: Any) -> tuple[str, Optional[str]]:
    """``(target, name)`` of the dataset under any class-incremental views of a ``data`` config."""
    node = data_cfg
    while isinstance(node, (DictConfig, dict)) and node.get("_target_") == VIEW_TARGET:
        node = node["datamodule"]
    if not isinstance(node, (DictConfig, dict)) or "_target_" not in node:
        raise ValueError(f"not a datamodule config: {node!r}")
    name = node.get("name") if "name" in node else None
    return str(node["_target_"]), (str(name) if name is not None else None)


def datamodule_signature(datamodule: Any) -> tuple[str, Optional[str]]:
    """``(target, name)`` of a built datamodule, unwrapping class-incremental views."""
    from zoo.data.class_incremental import base_datamodule

    base = base_datamodule(datamodule)
    cls = type(base)
    name = getattr(base, "name", None)
    return f"{cls.__module__}.{cls.__qualname__}", (str(name) if name is not None else None)


def same_dataset(a: tuple[str, Optional[str]], b: tuple[str, Optional[str]]) -> bool:
    """Same datamodule class, and the same ``name`` where both signatures have one."""
    return a[0] == b[0] and (a[1] is None or b[1] is None or a[1] == b[1])


@dataclass
class CheckpointClassifier:
    """A task rebuilt from a checkpoint, in eval mode with frozen parameters.

    Attributes:
        path: the checkpoint file.
        task: the rebuilt LightningModule.
        num_classes: the classes its datamodule had (the output width).
        data: ``(target, name)`` of the underlying dataset (:func:`data_signature`).
        config: the checkpoint's composed config.
    """

    path: str
    task: LightningModule
    num_classes: int
    data: tuple[str, Optional[str]]
    config: DictConfig

    @property
    def net(self) -> torch.nn.Module:
        """The plain net when the task has one (``task.net``), else the task."""
        return getattr(self.task, "net", self.task)


def load_checkpoint_classifier(ckpt_path: Optional[str], key: str) -> CheckpointClassifier:
    """Rebuild the task stored in ``ckpt_path`` (named ``key`` in error messages).

    :param ckpt_path: a zoo checkpoint.
    :param key: the config key that named it, e.g. ``model.old_ckpt``.
    :raises FileNotFoundError: ``ckpt_path`` is not a file.
    :raises ValueError: not a zoo checkpoint, or its datamodule has no ``num_classes``.
    """
    from zoo.cli import CONFIG_KEY
    from zoo.utils.resolvers import _BOUND, bind_datamodule

    if ckpt_path is None:
        raise ValueError(f"{key} is required (a checkpoint written by train.py)")
    if not os.path.isfile(str(ckpt_path)):
        raise FileNotFoundError(f"{key}={ckpt_path!r}: no such checkpoint file")
    checkpoint = torch.load(str(ckpt_path), map_location="cpu", weights_only=False)
    if CONFIG_KEY not in checkpoint or "state_dict" not in checkpoint:
        raise ValueError(f"{key}={ckpt_path!r} is not a zoo checkpoint (no '{CONFIG_KEY}'/'state_dict' entry)")
    config = OmegaConf.create(checkpoint[CONFIG_KEY])
    previous = _BOUND.get("datamodule")
    try:
        datamodule = hydra.utils.instantiate(config.data)
        if not hasattr(datamodule, "num_classes"):
            raise ValueError(f"{key}={ckpt_path!r} was trained on {type(datamodule).__name__}, which has no num_classes")
        bind_datamodule(datamodule)
        task: LightningModule = hydra.utils.instantiate(config.model)
        num_classes = int(datamodule.num_classes)
    finally:
        bind_datamodule(previous)
    task.load_state_dict(checkpoint["state_dict"])
    task.eval()
    task.requires_grad_(False)
    return CheckpointClassifier(path=str(ckpt_path), task=task, num_classes=num_classes,
                                data=data_signature(config.data), config=config)
