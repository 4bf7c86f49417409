"""Tiny old/reference checkpoints for the model-update tests (a few batches of Fashion-MNIST)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import open_dict

from tests.conftest import compose_train
from zoo import cli

TINY = ["data.datamodule.train_subset=256", "data.datamodule.eval_batch_size=256", "data.datamodule.val_size=256"]


def tiny_cfg(tmp_path: Path, overrides: list[str], tiny_data: bool = True):
    """A few batches per stage; ``tiny_data`` shrinks the Fashion-MNIST splits too."""
    cfg = compose_train(tmp_path, overrides + (TINY if tiny_data else []))
    with open_dict(cfg):
        cfg.trainer.limit_train_batches = 2
        cfg.trainer.limit_val_batches = 1
        cfg.trainer.limit_test_batches = 1
    return cfg


def train_tiny(tmp_path: Path, overrides: list[str]) -> tuple[dict, str]:
    """Train one tiny stage; returns ``(metrics, best checkpoint path)``."""
    metrics, objects = cli.train(tiny_cfg(tmp_path, overrides))
    return metrics, objects["trainer"].checkpoint_callback.best_model_path


def mpt_teacher_overrides(folder: Path) -> list[str]:
    """Tiny old (first 5 classes) and reference checkpoints for the MPT update: their overrides."""
    _, old = train_tiny(folder / "old", ["experiment=mpt_fmnist_old", "seed=0"])
    _, ref = train_tiny(folder / "ref", ["experiment=mpt_fmnist", "seed=1"])
    return [f"model.old_ckpt={old}", f"model.reference_ckpt={ref}"]
