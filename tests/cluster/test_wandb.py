"""logger=wandb offline: the run's metrics, config, plot and best-checkpoint artifact, read back."""

from __future__ import annotations

import time

import pytest
from omegaconf import open_dict

from tests.conftest import compose_train
from zoo import cli
from zoo.utils.resolvers import run_name
from zoo.utils.wandb_run import read_offline_run


def test_wandb_offline_run_holds_metrics_config_plot_and_checkpoint(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    cfg = compose_train(tmp_path, ["experiment=gcn_cora", "logger=wandb", "model.optimizer.lr=0.02"], shrink=False)
    with open_dict(cfg):
        cfg.trainer.max_epochs = 3
        cfg.trainer.accelerator = "cpu"
        cfg.trainer.enable_progress_bar = False
        cfg.callbacks.progress_bar = None
        cfg.extras.print_config = False
    assert run_name() == "lr=0.02"
    metrics, _ = cli.train(cfg)

    runs = sorted((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, runs
    assert f"wandb sync {runs[0]}" in capsys.readouterr().out
    # W&B's service may still be writing the file after finish() returns (seen on a loaded machine)
    deadline = time.monotonic() + 60
    while not (logged := read_offline_run(runs[0]))["complete"] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert logged["complete"], "the offline run file has no exit record after 60 s"
    assert logged["run"]["project"] == "zoo"
    assert logged["run"]["group"] == "gcn_cora"
    assert logged["run"]["name"] == "lr=0.02"
    # every metric train() returns was logged to W&B
    assert set(metrics) <= logged["metrics"], set(metrics) - logged["metrics"]
    assert {"train/loss", "val/acc", "val/acc_best", "test/acc"} <= logged["metrics"]
    # the composed config, with the groups and the values of this run
    assert {"model", "data", "trainer", "task_name", "model/params/total"} <= logged["config"]
    # the learning curves as a PNG, written to the run dir and logged as an image
    assert (tmp_path / "plots" / "curves.png").is_file()
    assert "plots/curves" in logged["images"]
    # the best checkpoint as a model artifact
    assert any(kind == "model" and "best" in aliases for _, kind, aliases in logged["artifacts"]), logged["artifacts"]


def test_wandb_mode_follows_environment(monkeypatch):
    from zoo.utils.wandb_run import wandb_mode

    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert wandb_mode() == "disabled"
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert wandb_mode() == "offline"
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert wandb_mode() == "online"


@pytest.mark.parametrize("overrides,expected", [
    (["experiment=gcn_cora", "model.optimizer.lr=0.001", "model.net.dropout=0.5"], "lr=0.001,dropout=0.5"),
    (["hparams_search=gnn_node_optuna", "logger=wandb"], "default"),
])
def test_run_name_is_the_overrides(overrides, expected, tmp_path):
    compose_train(tmp_path, overrides, shrink=False)
    assert run_name() == expected
