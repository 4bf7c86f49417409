"""hydra/launcher=slurm|local compose, and derive the SLURM request from the trainer config."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from tests.conftest import CONF_DIR, options
from zoo.utils.slurm import slurm_gpus


def _launcher(overrides: list[str]):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("train.yaml", overrides=overrides, return_hydra_config=True)
    launcher = cfg.hydra.launcher
    out = {}
    for key in launcher:
        if key == "submitit_folder":  # ${hydra.sweep.dir}: needs a running Hydra app
            continue
        value = launcher[key]
        out[key] = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
    return out


def test_launcher_options():
    assert options("hydra/launcher") == ["local", "slurm"]


def test_slurm_launcher_asks_for_one_task_per_gpu_and_sigusr1():
    params = _launcher(["hydra/launcher=slurm", "trainer=ddp", "trainer.devices=4", "hydra.launcher.partition=gpu"])
    assert params["_target_"].endswith("SlurmLauncher")
    assert (params["tasks_per_node"], params["gpus_per_node"], params["partition"]) == (4, 4, "gpu")
    assert params["additional_parameters"] == {"signal": "USR1@120", "requeue": True}


def test_slurm_launcher_on_cpu_asks_for_no_gpu():
    params = _launcher(["hydra/launcher=slurm", "trainer=ddp_cpu", "hydra.launcher.signal_delay_s=30"])
    assert (params["tasks_per_node"], params["gpus_per_node"]) == (2, None)
    assert params["additional_parameters"]["signal"] == "USR1@30"


def test_local_launcher_composes():
    params = _launcher(["hydra/launcher=local"])
    assert params["_target_"].endswith("LocalLauncher")
    assert params["gpus_per_node"] is None


def test_slurm_gpus_rejects_devices_it_cannot_count():
    assert slurm_gpus("cpu", "auto") is None
    assert slurm_gpus("gpu", 2) == 2
    with pytest.raises(ValueError, match="trainer.devices='auto'"):
        slurm_gpus("gpu", "auto")
