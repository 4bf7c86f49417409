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


def test_check_schedulable_names_the_resource_the_request_and_the_largest_node():
    from zoo.utils.slurm import SlurmNode, _gpus, check_schedulable

    nodes = [SlurmNode("small", 2, 4000, 0), SlurmNode("big", 8, 16000, 2)]
    check_schedulable({"cpus_per_task": 4, "tasks_per_node": 2, "mem_gb": 15, "gpus_per_node": 2}, nodes, "p")
    with pytest.raises(ValueError, match=r"16 CPUs \(cpus_per_task=8 x tasks_per_node=2\) per node, but the largest "
                                         r"node of partition 'p' \(big\) has 8 CPUs"):
        check_schedulable({"cpus_per_task": 8, "tasks_per_node": 2}, nodes, "p")
    with pytest.raises(ValueError, match=r"32768 MB of memory \(mem_gb=32\) .* \(big\) has 16000 MB"):
        check_schedulable({"cpus_per_task": 1, "mem_gb": 32}, nodes, "p")
    with pytest.raises(ValueError, match=r"4 GPUs \(gpus_per_node=4\) .* \(big\) has 2 GPUs"):
        check_schedulable({"cpus_per_task": 1, "gpus_per_node": 4}, nodes, "p")
    with pytest.raises(ValueError, match=r"nodes=2: the job needs 2 nodes with 4 CPUs .* has 1 such node"):
        check_schedulable({"cpus_per_task": 4, "nodes": 2}, nodes, "p")
    assert [_gpus(g) for g in ("(null)", "gpu:4", "gpu:a100:4(S:0-1)", "gpu:2,shard:8", "gpu:a:1,gpu:b:2")] == [
        0, 4, 4, 2, 3]


def test_slurm_launcher_is_the_checking_one(tmp_path):
    from hydra import compose, initialize_config_dir

    from tests.conftest import CONF_DIR

    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        full = compose("train.yaml", overrides=["hydra/launcher=slurm"], return_hydra_config=True)
    assert full.hydra.launcher._target_ == "hydra_plugins.zoo_submitit_launcher.ZooSlurmLauncher"
    from hydra.core.plugins import Plugins

    # Hydra finds it among its plugins (it scans only the hydra_plugins namespace)
    launcher = Plugins.instance().class_name_to_class[full.hydra.launcher._target_]
    assert [c.__name__ for c in launcher.__mro__][:2] == ["ZooSlurmLauncher", "SlurmLauncher"]
