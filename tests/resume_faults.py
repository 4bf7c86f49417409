"""Fault injection for the resume tests: a callback that SIGKILLs its own training process at a
chosen point (``+callbacks.kill._target_=tests.resume_faults.KillAt``)."""

from __future__ import annotations

import os
import signal

from lightning.pytorch import Callback

__all__ = ["KillAt", "SaveHpcAt", "Preempted"]


class KillAt(Callback):
    """``kill -9`` of this process at global step ``step``.

    Args:
        step: the training step (1-based ``trainer.global_step`` after the step) to die at.
        where: ``"train_batch"`` (after that step's batch) or ``"validation"`` (in the first
            validation batch after that step).
    """

    def __init__(self, step: int, where: str = "train_batch") -> None:
        if where not in ("train_batch", "validation"):
            raise ValueError(f"where={where!r}; expected 'train_batch' or 'validation'")
        self.step = int(step)
        self.where = where

    @staticmethod
    def _die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.where == "train_batch" and trainer.global_step >= self.step:
            self._die()

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if self.where == "validation" and not trainer.sanity_checking and trainer.global_step >= self.step:
            self._die()


class Preempted(RuntimeError):
    """Raised by :class:`SaveHpcAt` after its save: the job ends there."""


class SaveHpcAt(Callback):
    """At global step ``step``, save the checkpoint Lightning's SLURM auto-requeue writes on SIGUSR1
    (``<default_root_dir>/hpc_ckpt_<n>.ckpt``, the same two calls as its signal handler), then stop
    the run with :class:`Preempted`."""

    def __init__(self, step: int) -> None:
        self.step = int(step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            trainer.save_checkpoint(trainer._checkpoint_connector.hpc_save_path(trainer.default_root_dir))
            raise Preempted(f"preempted after step {self.step}")
