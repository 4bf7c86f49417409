"""A callback the SLURM tests add to a job (``+callbacks.resume_probe=...``): records the state a
run starts training from, so a test can compare a resumed job with the checkpoint it came from."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Optional

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

__all__ = ["ResumeProbe", "optimizer_digest"]


def optimizer_digest(optimizer_states: list[dict[str, Any]]) -> str:
    """sha256 over every tensor (and number) of the optimizers' ``state`` dicts, in key order."""
    h = hashlib.sha256()
    for opt in optimizer_states:
        for pid in sorted(opt["state"]):
            for name in sorted(opt["state"][pid]):
                value = opt["state"][pid][name]
                h.update(f"{pid}/{name}".encode())
                if isinstance(value, torch.Tensor):
                    h.update(value.detach().cpu().contiguous().numpy().tobytes())
                else:
                    h.update(repr(value).encode())
    return h.hexdigest()


class ResumeProbe(Callback):
    """Writes ``resume_probe_<SLURM_RESTART_COUNT>.json`` (epoch, step, optimizer digest) at train start.

    Args:
        sleep_s: seconds to sleep after each epoch of the first start, so a test can signal the job
            while it trains (default: ``0.0``).
        stop_after: after a requeue, stop training this many epochs after the resumed one
            (default: ``None``: train to ``max_epochs``).
    """

    def __init__(self, *, sleep_s: float = 0.0, stop_after: Optional[int] = None) -> None:
        self.sleep_s = sleep_s
        self.stop_after = stop_after
        self.start_epoch = 0

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) == 0:
            time.sleep(self.sleep_s)
        elif self.stop_after is not None and trainer.current_epoch + 1 >= self.start_epoch + self.stop_after:
            trainer.should_stop = True

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.start_epoch = trainer.current_epoch
        if not trainer.is_global_zero:
            return
        restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)
        record = {
            "restart_count": restarts,
            "job_id": os.environ.get("SLURM_JOB_ID"),
            "epoch": trainer.current_epoch,
            "global_step": trainer.global_step,
            "optimizer": optimizer_digest([opt.state_dict() for opt in trainer.optimizers]),
            "ckpt_path": trainer.ckpt_path,
        }
        path = Path(trainer.default_root_dir) / f"resume_probe_{restarts}.json"
        path.write_text(json.dumps(record, indent=2))
