"""Shared fixtures: the real config tree, composed once and shrunk for fast CPU runs.

``cfg_train`` / ``cfg_eval`` give each test a copy writing to its own temp dir with one epoch,
CPU, no logger. Use :func:`compose_train` to compose with extra overrides (e.g. an experiment).

``ZOO_TEST_ACCELERATOR=gpu`` runs those trainers on one GPU instead, e.g. every experiment's
fast_dev_run on CUDA: ``ZOO_TEST_ACCELERATOR=gpu pytest tests/test_train.py -k test_fast_dev_run``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

import zoo.cli  # noqa: F401 - registers resolvers and schemas

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"
SHARED_DATA = (ROOT / ".." / "shared" / "data").resolve()
TEST_ACCELERATOR = os.environ.get("ZOO_TEST_ACCELERATOR", "cpu")

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


def experiments() -> list[str]:
    """Every experiment preset in conf/experiment (a new YAML is tested with no test edit)."""
    return sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


def options(group: str) -> list[str]:
    """Every option of a config group, found by listing conf/<group>."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def compose_cfg(config_name: str, overrides: list[str], tmp_path: Path, shrink: bool = True) -> DictConfig:
    """Compose ``config_name`` with ``overrides``; set Hydra's runtime so ${hydra:...} resolves."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.root_dir = str(ROOT)
        cfg.paths.output_dir = str(tmp_path)
        cfg.paths.log_dir = str(tmp_path / "logs")
        cfg.paths.cache_dir = os.environ.get("ZOO_CACHE_DIR", str(ROOT / ".cache"))
        cfg.paths.work_dir = str(ROOT)
        if shrink:
            cfg.trainer.max_epochs = 1
            cfg.trainer.accelerator = TEST_ACCELERATOR
            cfg.trainer.devices = 1
            if cfg.get("callbacks") and "progress_bar" in cfg.callbacks:
                cfg.callbacks.progress_bar = None
            cfg.trainer.enable_progress_bar = False
            cfg.trainer.enable_model_summary = False
            cfg.logger = None
            cfg.extras.print_config = False
        del cfg.hydra
    return cfg


def compose_train(tmp_path: Path, overrides: list[str] | None = None, shrink: bool = True) -> DictConfig:
    return compose_cfg("train.yaml", overrides or [], tmp_path, shrink)


def compose_eval(tmp_path: Path, overrides: list[str] | None = None) -> DictConfig:
    return compose_cfg("eval.yaml", overrides or [], tmp_path, shrink=True)


@pytest.fixture
def cfg_train(tmp_path: Path) -> DictConfig:
    return compose_train(tmp_path)


@pytest.fixture(autouse=True)
def _clear_hydra():
    yield
    GlobalHydra.instance().clear()

