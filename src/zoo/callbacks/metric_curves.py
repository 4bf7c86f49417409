"""Training curves of a run, drawn from its CSV log when fitting ends (via :mod:`zoo.utils.plots`)."""

from __future__ import annotations

import os
from typing import Optional

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import CSVLogger

from zoo.utils.plots import save_metric_curves

__all__ = ["MetricCurves"]


class MetricCurves(Callback):
    """After ``trainer.fit``, plot every epoch-level ``train/*`` and ``val/*`` metric the
    :class:`~lightning.pytorch.loggers.CSVLogger` wrote, one panel per metric.

    Add it to any run with
    ``+callbacks.metric_curves._target_=zoo.callbacks.metric_curves.MetricCurves``.
    Without a CSV logger it does nothing.

    Args:
        filename: PNG path relative to the run directory (default: ``"plots/curves.png"``).
    """

    def __init__(self, *, filename: str = "plots/curves.png") -> None:
        super().__init__()
        self.filename = filename
        self.path: Optional[str] = None

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            if isinstance(logger, CSVLogger):
                logger.save()  # flush the rows of the last epoch
                self.path = save_metric_curves(os.path.join(logger.log_dir, "metrics.csv"),
                                               os.path.join(trainer.default_root_dir, self.filename),
                                               loggers=trainer.loggers)
                return
