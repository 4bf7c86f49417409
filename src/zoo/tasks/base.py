"""The base every zoo task extends: optimizer/scheduler wiring and the shared metric conventions.

A task is handed its parts (a built net, an objective, a ``_partial_`` optimizer and scheduler);
it owns loss, metrics and logging. Metric names follow ``train/loss``, ``val/<m>``,
``val/<m>_best`` (logged as a value so it is not reset) and ``test/<m>``.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from lightning.pytorch import LightningModule

__all__ = ["ZooTask"]

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
    """

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
