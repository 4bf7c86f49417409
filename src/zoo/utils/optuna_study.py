"""Persistent Optuna searches: the study lives in ``<sweep dir>/optuna.db`` (sqlite), so a killed
search rerun with the same command continues to ``n_trials`` in total.

* ``${optuna_storage:<sweep dir>}``: ``sqlite:///<sweep dir>/optuna.db`` (creates the directory,
  which Hydra makes only after the sweeper has opened its storage).
* :func:`continue_study`: called by ``hydra_plugins.zoo_optuna_sweeper.ZooOptunaSweeper`` before the
  sweep: trials a killed search left ``RUNNING`` become ``FAIL``; finished trials (complete, pruned,
  failed) count towards ``n_trials``; new jobs are numbered after the existing trials, so job
  directory ``<sweep dir>/<n>`` is trial ``n`` and no earlier job's directory is overwritten.
* :func:`study_trials`: ``{trial number: state}`` of the study a sweep directory holds.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

from omegaconf import OmegaConf

__all__ = ["STUDY_FILE", "optuna_storage", "register_optuna_resolvers", "continue_study", "study_trials"]

log = logging.getLogger(__name__)

#: the study's sqlite file in the sweep directory
STUDY_FILE = "optuna.db"


def optuna_storage(sweep_dir: Any) -> str:
    """``sqlite:///<sweep dir>/optuna.db``, the sweep directory created if needed."""
    path = Path(str(sweep_dir)).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path / STUDY_FILE}"


def register_optuna_resolvers() -> None:
    """Register ``${optuna_storage:...}`` once (idempotent)."""
    if not OmegaConf.has_resolver("optuna_storage"):
        OmegaConf.register_new_resolver("optuna_storage", optuna_storage)


def continue_study(impl: Any) -> Optional[int]:
    """Fit an ``OptunaSweeperImpl`` (``storage``, ``study_name``, ``n_trials``, ``job_idx``) to its
    stored study; returns how many trials had finished (``None``: no stored study yet).

    :raises ValueError: a stored study without ``study_name`` (several studies may share a file).
    """
    import optuna
    from optuna.trial import TrialState

    if impl.storage is None:
        return None
    if impl.study_name is None:
        raise ValueError(f"hydra.sweeper.storage={impl.storage!r} needs hydra.sweeper.study_name to find the study again")
    try:
        study = optuna.load_study(study_name=impl.study_name, storage=impl.storage)
    except KeyError:  # a new study
        return None
    trials = study.get_trials(deepcopy=False)
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)]
    stale = [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    storage = study._storage
    for trial in stale:  # their search was killed: no process will ever tell their result
        if hasattr(storage, "set_trial_state_values"):  # optuna >= 3
            storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        else:  # optuna 2.10, what hydra-optuna-sweeper allows
            storage.set_trial_state(trial._trial_id, TrialState.FAIL)
    total = impl.n_trials
    impl.n_trials = max(0, total - len(finished))
    impl.job_idx = max([t.number for t in trials], default=-1) + 1
    log.info(f"Continuing Optuna study {impl.study_name!r} ({impl.storage}): {len(finished)} of {total} trials "
             f"finished, {len(stale)} left running by an interrupted search marked failed; "
             f"{impl.n_trials} to go, from job {impl.job_idx}")
    return len(finished)


def study_trials(sweep_dir: Path, study_name: Optional[str]) -> Optional[dict[int, str]]:
    """``{trial number: state name}`` of ``study_name`` in ``<sweep dir>/optuna.db``; ``None`` when
    there is no such file or study."""
    path = Path(sweep_dir) / STUDY_FILE
    if not path.is_file() or study_name is None:
        return None
    import optuna

    try:
        study = optuna.load_study(study_name=str(study_name), storage=f"sqlite:///{path.resolve()}")
    except KeyError:
        return None
    return {t.number: t.state.name for t in study.get_trials(deepcopy=False)}
