"""SLURM helpers for the launcher configs (``conf/hydra/launcher/``).

* ``${slurm_gpus:accelerator,devices}``: GPUs per node a job asks for: ``devices`` when the trainer
  runs on GPUs (``gpu``/``cuda``), else ``None`` (no ``--gpus-per-node``).
* :func:`requeue_count`: how often SLURM has requeued this job (``SLURM_RESTART_COUNT``).

Preemption itself is Lightning's: under SLURM its ``SLURMEnvironment`` (auto-requeue) catches
``SIGUSR1``, writes ``<default_root_dir>/hpc_ckpt_<n>.ckpt``, calls ``scontrol requeue`` and, when
the requeued job starts ``fit`` without ``ckpt_path``, resumes from the newest ``hpc_ckpt``.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from omegaconf import OmegaConf

__all__ = ["slurm_gpus", "requeue_count", "register_slurm_resolvers", "GPU_ACCELERATORS"]

GPU_ACCELERATORS = ("gpu", "cuda")


def slurm_gpus(accelerator: Any, devices: Any) -> Optional[int]:
    """GPUs per node for ``trainer.accelerator``/``trainer.devices``; ``None`` off the GPU.

    :raises ValueError: a GPU trainer whose ``devices`` is not a positive int (``auto``, a list),
        which SLURM cannot turn into a GPU count.
    """
    if str(accelerator) not in GPU_ACCELERATORS:
        return None
    try:
        count = int(devices)
    except (TypeError, ValueError):
        count = -1
    if count < 1:
        raise ValueError(
            f"trainer.devices={devices!r}: hydra/launcher=slurm needs a positive number of GPUs per node "
            "(or set hydra.launcher.gpus_per_node and hydra.launcher.tasks_per_node yourself)"
        )
    return count


def requeue_count() -> int:
    """``SLURM_RESTART_COUNT``: 0 for a first start, n after n requeues (0 outside SLURM)."""
    return int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)


def register_slurm_resolvers() -> None:
    """Register ``${slurm_gpus:...}`` once (idempotent)."""
    if not OmegaConf.has_resolver("slurm_gpus"):
        OmegaConf.register_new_resolver("slurm_gpus", slurm_gpus, use_cache=False)
