"""Hydra's Optuna sweeper, continuing a persistent study (the sweepers of ``conf/hparams_search``).

Hydra loads sweepers only from the ``hydra_plugins`` namespace, hence this package; the work is in
:func:`zoo.utils.optuna_study.continue_study`.
"""

from __future__ import annotations

from typing import List

from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper

__all__ = ["ZooOptunaSweeper"]


class ZooOptunaSweeper(OptunaSweeper):
    """Same configuration as ``OptunaSweeper`` (``hydra/sweeper=optuna``). Before sweeping, a study
    already in ``storage`` is continued: its trials left running by a killed search are marked
    failed, the finished ones count towards ``n_trials``, and new jobs are numbered after every
    existing trial."""

    def sweep(self, arguments: List[str]) -> None:
        from zoo.utils.optuna_study import continue_study

        continue_study(self.sweeper)
        return self.sweeper.sweep(arguments)
