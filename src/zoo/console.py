"""The ``zoo-train`` and ``zoo-eval`` commands (and what ``train.py`` / ``eval.py`` call).

Both are ``@hydra.main`` applications over the config tree returned by :func:`config_dir`: the
``conf/`` directory of a source checkout, or the copy shipped inside the installed wheel
(``zoo/conf``). They work from any directory; runs are written under ``./logs`` and data is read
from ``$ZOO_DATA_DIR`` (see ``conf/paths/default.yaml``).

.. code-block:: bash

    zoo-train experiment=gcn_cora debug=fdr
    zoo-eval ckpt_path=logs/gcn_cora/runs/<stamp>/checkpoints/last.ckpt
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import hydra
from omegaconf import DictConfig

from zoo import cli

__all__ = ["config_dir", "train_main", "eval_main"]

_PACKAGE_DIR = Path(__file__).resolve().parent


def config_dir() -> Path:
    """The Hydra config tree: ``<checkout>/conf`` in a source checkout, else the wheel's ``zoo/conf``.

    :raises FileNotFoundError: neither exists (a broken install), naming both paths.
    """
    checkout = _PACKAGE_DIR.parents[1] / "conf"
    shipped = _PACKAGE_DIR / "conf"
    # a checkout (src layout) wins, so an editable install reads the files being edited
    for candidate in (checkout, shipped):
        if (candidate / "train.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"no zoo config tree: neither {checkout} nor {shipped} holds train.yaml")


def _train_task(cfg: DictConfig) -> Optional[float]:
    metrics, _ = cli.train(cfg)
    # the value Optuna / other sweepers optimise
    return cli.metric_value(metrics, cfg.get("optimized_metric"))


# eval's data.*/model.* overrides, taken off the command line before Hydra composes eval.yaml
_RUN_OVERRIDES: list[str] = []


def _eval_task(cfg: DictConfig) -> None:
    cli.evaluate(cfg, overrides=_RUN_OVERRIDES)


def train_main() -> Optional[float]:
    """``zoo-train [overrides]``: compose ``train.yaml``, fit, test, return ``optimized_metric``."""
    app = hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train.yaml")(_train_task)
    return app()


def eval_main() -> None:
    """``zoo-eval ckpt_path=<file or bundle> [overrides]``: rebuild a run from its checkpoint and test it.

    ``data.*``/``model.*`` overrides (and ``data=``/``model/net=`` group choices) apply to the
    checkpoint's own config (:func:`zoo.cli.split_run_overrides`), so they are taken off the command
    line before Hydra composes ``eval.yaml``.
    """
    _RUN_OVERRIDES[:], rest = cli.split_run_overrides(sys.argv[1:])
    sys.argv = [sys.argv[0], *rest]
    app = hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="eval.yaml")(_eval_task)
    app()
