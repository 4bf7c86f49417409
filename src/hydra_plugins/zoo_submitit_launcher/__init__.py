"""Hydra's submitit SLURM launcher, refusing at submission a job no node can ever run
(``conf/hydra/launcher/slurm.yaml``). Hydra loads launchers only from the ``hydra_plugins``
namespace, hence this package; the check is :func:`zoo.utils.slurm.check_schedulable`."""

from __future__ import annotations

from typing import Sequence

from hydra.core.utils import JobReturn
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher

__all__ = ["ZooSlurmLauncher"]


class ZooSlurmLauncher(SlurmLauncher):
    """``SlurmLauncher`` (same settings) that checks the request against the partition's nodes
    (``sinfo``) before submitting anything."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from zoo.utils.slurm import check_schedulable

        check_schedulable(self.params)
        return super().launch(job_overrides, initial_job_idx)
