"""Start-up checks of the training schedule: refuse a run that trains nothing, and say before any
step when ``optimized_metric`` can never be logged.

* :func:`check_training_runs`: ``train=true`` with ``trainer.limit_train_batches=0`` (or
  ``max_epochs=0``/``max_steps=0``) would fit nothing and then test the untrained weights: an error.
* :func:`metric_schedule_problem`: why the schedule cannot log ``optimized_metric`` (``test/*``
  without ``test``, ``val/*`` when validation never runs: ``limit_val_batches=0``,
  ``max_epochs < check_val_every_n_epoch``, ``max_steps`` before the first validation), or ``None``.
  The config-only cases are checked before data and model are built; the one that needs the
  number of batches per epoch by :class:`OptimizedMetricCheck` when training starts (before the
  first step).
* Inside a sweep (Hydra multirun) such a run fails at once (:class:`ValueError`): the sweeper needs
  the value. Outside a sweep it is a warning, and ``zoo.cli.metric_value`` returns ``None``, so the
  run exits 0.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Optional

from lightning.pytorch import Callback, LightningModule, Trainer
from omegaconf import DictConfig

__all__ = ["in_sweep", "check_training_runs", "metric_schedule_problem", "first_validation_step",
           "OptimizedMetricCheck", "report_metric_problem"]

log = logging.getLogger(__name__)


def in_sweep() -> bool:
    """Whether this process runs a job of a Hydra multirun (``-m``, a sweeper, ``hydra.mode=MULTIRUN``)."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        return HydraConfig.get().mode == RunMode.MULTIRUN
    except (ValueError, AttributeError):  # no Hydra job: a direct call of zoo.cli.train
        return False


def _trainer_value(cfg: DictConfig, key: str, default: Any = None) -> Any:
    trainer = cfg.get("trainer")
    if trainer is None or key not in trainer:
        return default
    return trainer[key]


def check_training_runs(cfg: DictConfig) -> None:
    """Refuse ``train=true`` with a schedule that takes no training step.

    :raises ValueError: naming the key (``trainer.limit_train_batches=0``, ``trainer.max_epochs=0``,
        ``trainer.max_steps=0``) and what to do instead.
    """
    if not cfg.get("train"):
        return
    for key in ("limit_train_batches", "max_epochs", "max_steps"):
        value = _trainer_value(cfg, key)
        if value is not None and not isinstance(value, bool) and isinstance(value, (int, float)) and value == 0:
            raise ValueError(
                f"trainer.{key}={value!r} with train=true runs no training step, so the test would "
                f"evaluate untrained weights; give trainer.{key} a positive value, or test a trained "
                "checkpoint with train=false ckpt_path=<file> (or python eval.py ckpt_path=<file>)"
            )


def first_validation_step(*, batches_per_epoch: float, accumulate_grad_batches: int, val_check_batch: float,
                          check_val_every_n_epoch: Optional[int]) -> float:
    """The global step after which the first validation runs (``inf``: never, e.g. an endless epoch).

    Validation runs after training batch ``val_check_batch`` of every ``check_val_every_n_epoch``-th
    epoch (Lightning's ``val_check_interval``); a step is taken every ``accumulate_grad_batches``
    batches and at the end of the epoch.
    """
    if math.isinf(val_check_batch) and math.isinf(batches_per_epoch):
        return math.inf
    acc = max(1, int(accumulate_grad_batches))
    in_epoch = batches_per_epoch if math.isinf(val_check_batch) else min(val_check_batch, batches_per_epoch)
    if math.isinf(in_epoch):
        return math.inf
    steps_per_epoch = math.ceil(batches_per_epoch / acc) if not math.isinf(batches_per_epoch) else math.inf
    epochs_before = (check_val_every_n_epoch - 1) if check_val_every_n_epoch else 0
    return epochs_before * steps_per_epoch + math.ceil(in_epoch / acc)


def metric_schedule_problem(cfg: DictConfig, trainer: Optional[Trainer] = None) -> Optional[str]:
    """Why ``cfg.optimized_metric`` can never be logged by this run's schedule, or ``None``.

    Without ``trainer``: what the config alone shows (before data and model are built). With a
    trainer whose fit has set up the training data (``on_train_start``): whether ``max_steps``
    ends training before the first validation.
    """
    metric = cfg.get("optimized_metric")
    if metric is None or not str(metric).startswith(("val/", "test/", "train/")):
        return None
    stage = str(metric).split("/", 1)[0]
    if trainer is not None:
        return _steps_problem(trainer) if stage == "val" and cfg.get("train") else None
    if stage == "test" and not cfg.get("test"):
        return "test=false, so no test metric is logged"
    if stage in ("val", "train") and not cfg.get("train"):
        return f"train=false, so no {stage} metric is logged"
    if stage != "val":
        return None
    limit_val = _trainer_value(cfg, "limit_val_batches")
    max_epochs = _trainer_value(cfg, "max_epochs")
    every = _trainer_value(cfg, "check_val_every_n_epoch", 1)
    if limit_val is not None and not isinstance(limit_val, bool) and limit_val == 0:
        return "trainer.limit_val_batches=0, so validation never runs"
    if isinstance(max_epochs, int) and max_epochs >= 0 and isinstance(every, int) and every > max_epochs:
        return (f"trainer.max_epochs={max_epochs} < trainer.check_val_every_n_epoch={every}, "
                "so validation never runs")
    return None


def _steps_problem(trainer: Trainer) -> Optional[str]:
    max_steps = trainer.max_steps
    if max_steps is None or max_steps < 0 or trainer.global_step > 0:  # no step limit, or resumed
        return None
    first = first_validation_step(
        batches_per_epoch=float(trainer.num_training_batches),
        accumulate_grad_batches=trainer.accumulate_grad_batches,
        val_check_batch=float(trainer.val_check_batch),
        check_val_every_n_epoch=trainer.check_val_every_n_epoch,
    )
    if max_steps >= first:
        return None
    when = "never" if math.isinf(first) else f"after step {int(first)}"
    return (f"trainer.max_steps={max_steps} ends training before the first validation ({when}: "
            f"{trainer.num_training_batches} batches per epoch, validation every "
            f"{trainer.check_val_every_n_epoch} epoch(s) after batch {trainer.val_check_batch}), "
            "so validation never runs")


def report_metric_problem(cfg: DictConfig, problem: Optional[str]) -> None:
    """Inside a sweep: raise. Outside: warn that the metric will be missing (the run still exits 0)."""
    if problem is None:
        return
    message = f"optimized_metric={cfg.get('optimized_metric')!r} can never be logged: {problem}"
    if in_sweep():
        raise ValueError(message + "; the sweeper needs it. Fix the schedule or set optimized_metric")
    log.warning(message + " (outside a sweep: the run goes on and returns no value)")


class OptimizedMetricCheck(Callback):
    """At the start of training (batches per epoch known, no step taken): the schedule check that
    needs the training data (``trainer.max_steps`` shorter than the first validation)."""

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        report_metric_problem(self.cfg, metric_schedule_problem(self.cfg, trainer))
