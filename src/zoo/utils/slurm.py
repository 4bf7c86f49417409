"""SLURM helpers for the launcher configs (``conf/hydra/launcher/``).

* ``${slurm_gpus:accelerator,devices}``: GPUs per node a job asks for: ``devices`` when the trainer
  runs on GPUs (``gpu``/``cuda``), else ``None`` (no ``--gpus-per-node``).
* :func:`requeue_count`: how often SLURM has requeued this job (``SLURM_RESTART_COUNT``).
* :func:`check_schedulable`: before submitting (``hydra/launcher=slurm``, via
  ``hydra_plugins.zoo_submitit_launcher.ZooSlurmLauncher``), the partition's nodes are read with
  ``sinfo``; a request that no node can ever satisfy (CPUs per node, memory, GPUs, node count)
  fails at once, naming the resource, the request and the largest node. Without the check SLURM
  keeps such a job pending forever (reason ``PartitionConfig``/``Resources``) and the sweep waits.

Preemption itself is Lightning's: under SLURM its ``SLURMEnvironment`` (auto-requeue) catches
``SIGUSR1``, writes ``<default_root_dir>/hpc_ckpt_<n>.ckpt``, calls ``scontrol requeue`` and, when
the requeued job starts ``fit`` without ``ckpt_path``, resumes from the newest ``hpc_ckpt``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from omegaconf import OmegaConf

__all__ = ["slurm_gpus", "requeue_count", "register_slurm_resolvers", "GPU_ACCELERATORS", "SlurmNode",
           "partition_nodes", "check_schedulable"]

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


@dataclass(frozen=True)
class SlurmNode:
    """A node of a partition as ``sinfo`` reports it: CPUs, memory (MB) and GPUs (from its GRES)."""

    name: str
    cpus: int
    memory_mb: int
    gpus: int


def _gpus(gres: str) -> int:
    # "gpu:4", "gpu:a100:4(S:0-1)", "gpu:2,shard:8", "(null)"
    return sum(int(n) for n in re.findall(r"(?:^|,)gpu(?::[^:,(]+)?:(\d+)", gres))


def partition_nodes(partition: Optional[str] = None) -> tuple[str, list[SlurmNode]]:
    """The (default, when ``None``) partition's name and its nodes, from ``sinfo``.

    :raises ValueError: no such partition.
    """
    out = subprocess.run(["sinfo", "-h", "-N", "-o", "%P|%N|%c|%m|%G"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    rows = [line.split("|") for line in out.strip().splitlines() if line.count("|") == 4]
    names = sorted({r[0].rstrip("*") for r in rows})
    if partition is None:
        default = [r[0].rstrip("*") for r in rows if r[0].endswith("*")]
        if not default:
            raise ValueError(f"hydra.launcher.partition=null but the cluster has no default partition; "
                             f"choose one of {names}")
        partition = default[0]
    nodes = {r[1]: SlurmNode(r[1], int(r[2].rstrip("+")), int(re.sub(r"\D", "", r[3]) or 0), _gpus(r[4]))
             for r in rows if r[0].rstrip("*") == partition}
    if not nodes:
        raise ValueError(f"hydra.launcher.partition={partition!r}: no such partition; the cluster has {names}")
    return partition, list(nodes.values())


def _int(value: Any, default: int) -> int:
    return default if value is None else int(value)


def check_schedulable(params: Mapping[str, Any], nodes: Optional[Sequence[SlurmNode]] = None,
                      partition: Optional[str] = None) -> None:
    """Refuse a job no node of its partition can ever run.

    :param params: the ``hydra.launcher`` settings (``nodes``, ``tasks_per_node``, ``cpus_per_task``,
        ``mem_gb``, ``gpus_per_node``, ``partition``).
    :param nodes: the partition's nodes (default: read with ``sinfo``; nothing is checked when
        ``sinfo`` is not installed).
    :raises ValueError: naming the resource, the request and the largest node.
    """
    partition = params.get("partition") if partition is None else partition
    if nodes is None:
        if shutil.which("sinfo") is None:
            return
        partition, nodes = partition_nodes(partition)
    where = f"partition {partition!r}" if partition else "the partition"
    tasks = _int(params.get("tasks_per_node"), 1)
    cpus = _int(params.get("cpus_per_task"), 1) * tasks
    mem_mb = None if params.get("mem_gb") is None else int(float(params["mem_gb"]) * 1024)
    gpus = _int(params.get("gpus_per_node"), 0)
    count = _int(params.get("nodes"), 1)

    def refuse(resource: str, request: str, best: SlurmNode, has: str) -> None:
        raise ValueError(
            f"hydra.launcher: the job asks for {request} per node, but the largest node of {where} "
            f"({best.name}) has {has}: no node can ever run it, SLURM would keep it pending forever. "
            f"Lower {resource}, or choose another hydra.launcher.partition"
        )

    most_cpus = max(nodes, key=lambda n: n.cpus)
    if cpus > most_cpus.cpus:
        refuse("hydra.launcher.cpus_per_task (x tasks_per_node)",
               f"{cpus} CPUs (cpus_per_task={cpus // tasks} x tasks_per_node={tasks})", most_cpus,
               f"{most_cpus.cpus} CPUs")
    most_mem = max(nodes, key=lambda n: n.memory_mb)
    if mem_mb is not None and mem_mb > most_mem.memory_mb:
        refuse("hydra.launcher.mem_gb", f"{mem_mb} MB of memory (mem_gb={params['mem_gb']})", most_mem,
               f"{most_mem.memory_mb} MB")
    most_gpus = max(nodes, key=lambda n: n.gpus)
    if gpus > most_gpus.gpus:
        refuse("hydra.launcher.gpus_per_node (or trainer.devices)", f"{gpus} GPUs (gpus_per_node={gpus})",
               most_gpus, f"{most_gpus.gpus} GPUs")
    fitting = [n for n in nodes if n.cpus >= cpus and n.gpus >= gpus and (mem_mb is None or n.memory_mb >= mem_mb)]
    if len(fitting) < count:
        raise ValueError(
            f"hydra.launcher.nodes={count}: the job needs {count} nodes with {cpus} CPUs"
            f"{'' if mem_mb is None else f', {mem_mb} MB'} and {gpus} GPUs each, but {where} has "
            f"{len(fitting)} such node(s) of {len(nodes)}: no node set can ever run it"
        )
