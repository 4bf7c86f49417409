"""Best-value tracking in the base task: declared once, logged as ``val/<m>_best``, saved and restored."""

from __future__ import annotations

import csv

import pytest
import torch
from omegaconf import open_dict

from tests.conftest import compose_train
from zoo import cli
from zoo.tasks.base import BEST_KEY
from zoo.tasks.graph_regression import GraphRegressionTask
from zoo.tasks.node_classification import NodeClassificationTask


def _val_acc_per_epoch(run_dir) -> list[float]:
    rows = csv.DictReader((run_dir / "csv" / "metrics.csv").open())
    return [float(r["val/acc"]) for r in rows if r.get("val/acc")]


def _train(tmp_path, epochs: int, extra: list[str] = ()):
    cfg = compose_train(tmp_path, ["experiment=gcn_cora", "seed=3", "logger=csv", *extra])
    with open_dict(cfg):
        cfg.trainer.max_epochs = epochs
        cfg.logger = compose_train(tmp_path, ["logger=csv"], shrink=False).logger
    return cli.train(cfg)


def test_best_is_the_max_over_epochs_and_saved_in_the_checkpoint(tmp_path):
    metrics, _ = _train(tmp_path, 4)
    accs = _val_acc_per_epoch(tmp_path)
    assert len(accs) == 4
    assert metrics["val/acc_best"] == pytest.approx(max(accs), abs=1e-6)
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last[BEST_KEY] == {"val/acc": pytest.approx(max(accs), abs=1e-6)}


def test_resumed_fit_keeps_the_best_value(tmp_path):
    """A checkpoint whose best value is higher than any later epoch's: the resumed run keeps it."""
    _train(tmp_path / "a", 2)
    ckpt = tmp_path / "a" / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    state[BEST_KEY] = {"val/acc": 0.999}
    torch.save(state, ckpt)
    metrics, _ = _train(tmp_path / "b", 4, [f"ckpt_path={ckpt}"])
    assert metrics["val/acc_best"] == pytest.approx(0.999)
    # a fresh fit of the same model object starts empty
    assert max(_val_acc_per_epoch(tmp_path / "b")) < 0.999


def test_declared_modes():
    assert NodeClassificationTask.best_metrics == {"val/acc": "max"}
    assert GraphRegressionTask.best_metrics == {"val/mae": "min"}


def test_bad_mode_names_the_task_and_metric():
    class Bad(GraphRegressionTask):
        best_metrics = {"val/mae": "lowest"}

    with pytest.raises(ValueError, match=r"Bad.best_metrics\['val/mae'\]='lowest'"):
        Bad(net=torch.nn.Linear(1, 1), optimizer=torch.optim.Adam)
