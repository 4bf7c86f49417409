"""The base every zoo task extends: optimizer/scheduler wiring and the shared metric conventions.

A task is handed its parts (a built net, an objective, a ``_partial_`` optimizer and scheduler);
it owns loss, metrics and logging. Metric names follow ``train/loss``, ``val/<m>``,
``val/<m>_best`` and ``test/<m>``.

Best values are tracked here, once for every task: a task declares which validation metrics it
tracks in :attr:`ZooTask.best_metrics` and calls :meth:`ZooTask.log_best` with the epoch's values.
The best values are plain floats saved in every checkpoint (under :data:`BEST_KEY`) and restored
from it, so a resumed run keeps them; they start empty only at the start of a fresh fit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Callable, ClassVar, Optional

import torch
from lightning.pytorch import LightningModule

__all__ = ["ZooTask", "BEST_KEY"]

#: checkpoint key of the best-value trackers: ``{"val/acc": 0.81, ...}`` (plain floats)
BEST_KEY = "zoo_best"
BEST_MODES = ("max", "min")

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., Any]


class ZooTask(LightningModule):
    """LightningModule base with config-driven optimizers.

    Args:
        optimizer: a partially applied optimizer class (``_partial_: true`` in the config),
            completed here with the trainable parameters.
        scheduler: an optional partially applied LR scheduler, completed with the optimizer.
        scheduler_interval: ``"epoch"`` or ``"step"`` (default: ``"epoch"``).
        scheduler_monitor: metric a ``ReduceLROnPlateau`` scheduler watches (default: ``None``).

    Attributes:
        best_metrics: class attribute, ``{metric: "max" | "min"}``: the validation metrics whose best
            value :meth:`log_best` tracks and logs as ``<metric>_best`` (default: none).
    """

    best_metrics: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        *,
        optimizer: OptimizerFactory,
        scheduler: Optional[SchedulerFactory] = None,
        scheduler_interval: str = "epoch",
        scheduler_monitor: Optional[str] = None,
    ) -> None:
        super().__init__()
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(
                f"model.scheduler_interval={scheduler_interval!r}; expected one of ['epoch', 'step']"
            )
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        self.scheduler_monitor = scheduler_monitor
        for name, mode in self.best_metrics.items():
            if mode not in BEST_MODES:
                raise ValueError(f"{type(self).__name__}.best_metrics[{name!r}]={mode!r}; expected one of {list(BEST_MODES)}")
        #: best value so far of each metric of :attr:`best_metrics` (absent until first logged)
        self.best_values: dict[str, float] = {}

    # -- best-value tracking ----------------------------------------------------------------------
    def log_best(self, values: Mapping[str, Any], prog_bar: bool = True) -> None:
        """Update the best value of every :attr:`best_metrics` entry in ``values``, then log each as
        ``<metric>_best``.

        Validation during Lightning's sanity check does not count; a NaN value is ignored.
        """
        sanity = self._trainer is not None and self.trainer.sanity_checking
        for name, mode in self.best_metrics.items():
            if name not in values or sanity:
                continue
            value = float(values[name])
            best = self.best_values.get(name)
            if not math.isnan(value) and (best is None or (value > best if mode == "max" else value < best)):
                self.best_values[name] = value
            if name in self.best_values:
                self.log(f"{name}_best", self.best_values[name], prog_bar=prog_bar, sync_dist=True)

    def on_fit_start(self) -> None:
        # a fresh fit starts the trackers empty; a resumed one keeps what on_load_checkpoint restored
        if self.trainer.ckpt_path is None:
            self.best_values = {}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[BEST_KEY] = dict(self.best_values)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.best_values = {str(k): float(v) for k, v in checkpoint.get(BEST_KEY, {}).items()}

    def configure_optimizers(self) -> Any:
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = self.optimizer_factory(params=params)
        if self.scheduler_factory is None:
            return {"optimizer": optimizer}
        scheduler = self.scheduler_factory(optimizer=optimizer)
        lr_config: dict[str, Any] = {"scheduler": scheduler, "interval": self.scheduler_interval}
        if self.scheduler_monitor is not None:
            lr_config["monitor"] = self.scheduler_monitor
        return {"optimizer": optimizer, "lr_scheduler": lr_config}
