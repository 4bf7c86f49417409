"""logger=wandb offline: the run's metrics, config, plot and best-checkpoint artifact, read back."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from omegaconf import open_dict

from tests.conftest import ROOT, compose_train
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


def _complete(run_dir, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not (logged := read_offline_run(run_dir))["complete"] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert logged["complete"], f"{run_dir}: no exit record after {timeout:.0f} s"
    return logged


def test_resumed_run_logs_to_the_same_wandb_run(tmp_path, monkeypatch):
    """The W&B id is kept in <run dir>/wandb_id; a run resumed from that run's checkpoint (even in
    another run directory) reuses it with resume="allow"."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    runs = []
    for name, epochs, ckpt in (("first", 2, None), ("resumed", 3, tmp_path / "first" / "checkpoints" / "last.ckpt")):
        overrides = ["experiment=gcn_cora", "logger=wandb"] + ([f"ckpt_path={ckpt}"] if ckpt else [])
        cfg = compose_train(tmp_path / name, overrides, shrink=False)
        with open_dict(cfg):
            cfg.trainer.max_epochs = epochs
            cfg.trainer.accelerator = "cpu"
            cfg.callbacks.progress_bar = None
            cfg.callbacks.early_stopping = None
            cfg.extras.print_config = False
        _, objects = cli.train(cfg)
        assert objects["trainer"].current_epoch == epochs
        assert cfg.logger.wandb.resume == "allow"
        (offline,) = sorted((tmp_path / name / "wandb").glob("offline-run-*"))
        runs.append((offline, (tmp_path / name / "wandb_id").read_text().strip()))
    (first_dir, first_id), (resumed_dir, resumed_id) = runs
    assert first_id == resumed_id and len(first_id) == 8
    assert first_dir.name.endswith(first_id) and resumed_dir.name.endswith(first_id)
    assert _complete(first_dir)["run"]["id"] == _complete(resumed_dir)["run"]["id"] == first_id


@pytest.mark.slow
def test_failed_sweep_job_finishes_its_wandb_run_and_the_next_job_opens_its_own(tmp_path):
    """Job 0 fails inside fit (Adam refuses lr=nan); its W&B run ends with exit code 1 and job 1
    gets a run of its own (before, it reused the open one)."""
    sweep_dir = tmp_path / "sweep"
    out = subprocess.run(
        [sys.executable, "train.py", "-m", "experiment=gcn_cora", "logger=wandb", "model.optimizer.lr=nan,0.01",
         "trainer.max_epochs=2", "trainer.accelerator=cpu", "callbacks.progress_bar=null",
         "extras.print_config=false", f"hydra.sweep.dir={sweep_dir}"],
        cwd=ROOT, env={**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true",
                       "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])},
        capture_output=True, text=True, timeout=900,
    )
    assert out.returncode != 0 and "Invalid learning rate: nan" in out.stderr, out.stderr[-3000:]
    logged = []
    for job in ("0", "1"):
        (run_dir,) = sorted((sweep_dir / job / "wandb").glob("offline-run-*"))
        logged.append(_complete(run_dir))
        assert logged[-1]["run"]["id"] == (sweep_dir / job / "wandb_id").read_text().strip()
    failed, ok = logged
    assert failed["exit_code"] == 1 and ok["exit_code"] == 0
    assert failed["run"]["id"] != ok["run"]["id"]
    assert failed["run"]["name"].startswith("lr=nan") and ok["run"]["name"].startswith("lr=0.01")
    assert {"val/acc_best", "test/acc"} <= ok["metrics"] and not failed["metrics"] & {"val/acc_best", "test/acc"}
