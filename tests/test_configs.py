"""Every config group option and every experiment composes from the real tree."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hydra.utils import get_class
from omegaconf import OmegaConf

from tests.conftest import ROOT, compose_eval, compose_train, experiments, options


@pytest.mark.parametrize("experiment", experiments())
def test_experiment_composes(experiment, tmp_path):
    cfg = compose_train(tmp_path, [f"experiment={experiment}"], shrink=False)
    assert cfg.task_name, experiment
    # every _target_ in the main groups names an importable object
    for group in ("data", "model", "trainer"):
        assert get_class(cfg[group]._target_) is not None
    OmegaConf.to_yaml(cfg)  # serialisable without resolving ${datamodule:...}


@pytest.mark.parametrize(
    "group,option",
    [(g, o) for g in ("data", "model", "trainer", "logger", "callbacks", "debug", "paths", "extras", "hparams_search")
     for o in options(g)],
)
def test_group_option_composes(group, option, tmp_path):
    cfg = compose_train(tmp_path, [f"{group}={option}"], shrink=False)
    assert cfg is not None


def test_eval_config_requires_ckpt_path(tmp_path):
    cfg = compose_eval(tmp_path)
    assert OmegaConf.is_missing(cfg, "ckpt_path")


def test_cfg_job_cli_prints_config():
    """`python train.py --cfg job` composes and prints without training."""
    out = subprocess.run(
        [sys.executable, "train.py", "--cfg", "job", "experiment=gat_cora"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "zoo.nets.gnn_baselines.GAT" in out.stdout
