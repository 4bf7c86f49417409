"""On the real local SLURM cluster (``make test-slurm`` starts and stops it): an Optuna sweep of 3
jobs through ``hydra/launcher=slurm``; a job that is preempted (SIGUSR1), requeued and resumed with
the identical epoch, step and optimizer state, the same W&B run id, and the weights of an
uninterrupted run; and jobs no node can ever run, refused at submission."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from tests.cluster.probe import optimizer_digest
from tests.conftest import ROOT
from zoo.utils.wandb_run import read_offline_run

pytestmark = pytest.mark.slurm

COMMON = [
    "hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.timeout_min=20",
    "experiment=gcn_cora", "trainer.accelerator=cpu", "callbacks.progress_bar=null",
    "extras.print_config=false", "logger=csv",
]


@pytest.fixture(scope="module", autouse=True)
def cluster():
    """The cluster must be up (slurm/start_cluster.sh); a clear failure, not a skip, when it is not."""
    if shutil.which("sbatch") is None or subprocess.run(["scontrol", "ping"], capture_output=True).returncode:
        pytest.fail("no SLURM controller answers: run `make test-slurm` (or slurm/start_cluster.sh first)")


def _env() -> dict[str, str]:
    # jobs run `python train.py` from PATH, as a user's activated environment would: put this
    # interpreter's bin dir first (CI runs `.venv/bin/python -m pytest` without activating .venv)
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PYTHONUNBUFFERED": "1",
            "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")])}


def _sacct_states(job_id: str) -> dict[str, str]:
    out = subprocess.run(["sacct", "-n", "-P", "-X", "-j", job_id, "-o", "JobID,State"],
                         capture_output=True, text=True, check=True).stdout
    return dict(line.split("|", 1) for line in out.strip().splitlines())


def _final_sacct_states(job_id: str, timeout: float = 120) -> dict[str, str]:
    """The jobs' states once none is still pending or running.

    Submitit hands back a job's result as soon as the job writes it, while the batch script is still
    exiting, so right after the sweep returns sacct can still say RUNNING (a CI run saw it)."""
    unfinished = {"PENDING", "RUNNING", "REQUEUED", "COMPLETING", "CONFIGURING", "RESIZING", "SUSPENDED"}

    def final_states() -> dict[str, str] | None:
        states = _sacct_states(job_id)
        return states if states and not unfinished & set(states.values()) else None

    return _wait(final_states, timeout, f"SLURM job {job_id} to reach a final state in sacct")


def _wait(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the sweep process exited ({proc.returncode}) while waiting for {what}")
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_optuna_sweep_of_three_slurm_jobs_returns_every_metric(tmp_path):
    sweep_dir = tmp_path / "sweep"
    out = subprocess.run(
        [sys.executable, "train.py", "hparams_search=gnn_node_optuna", *COMMON,
         "hydra.sweeper.n_trials=3", "hydra.sweeper.n_jobs=3", "trainer.max_epochs=3",
         f"hydra.sweep.dir={sweep_dir}"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    # the three jobs ran as one SLURM array and completed
    job_dirs = sorted(p.name for p in (sweep_dir / ".submitit").iterdir() if p.is_dir() and "_" in p.name)
    assert len(job_dirs) == 3, job_dirs
    states = _final_sacct_states(job_dirs[0].split("_")[0])
    assert sorted(states) == job_dirs and set(states.values()) == {"COMPLETED"}, states
    # every trial's metric came back: summary table and Optuna's result
    rows = list(csv.DictReader((sweep_dir / "summary.csv").open()))
    assert len(rows) == 3 and {r["status"] for r in rows} == {"ok"}, rows
    values = [float(r["val/acc_best"]) for r in rows]
    assert all(0.0 < v <= 1.0 for v in values), values
    assert {"model.optimizer.lr", "model.net.hidden_channels"} <= set(rows[0]), rows[0]
    best = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(max(values))
    assert "Sweep summary" in out.stdout


def test_preempted_job_is_requeued_and_resumes_with_identical_state(tmp_path):
    sweep_dir = tmp_path / "sweep"
    run_dir = sweep_dir / "0"
    stop_after = 3
    proc = subprocess.Popen(
        [sys.executable, "train.py", "-m", *COMMON, "logger=wandb", "trainer.max_epochs=1000",
         "callbacks.early_stopping=null",
         "+callbacks.resume_probe._target_=tests.cluster.probe.ResumeProbe",
         "+callbacks.resume_probe.sleep_s=0.3", f"+callbacks.resume_probe.stop_after={stop_after}",
         f"hydra.sweep.dir={sweep_dir}"],
        cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    job_id = None
    try:
        def training() -> bool:
            last = run_dir / "checkpoints" / "last.ckpt"
            return last.is_file() and torch.load(last, map_location="cpu", weights_only=False)["epoch"] >= 2

        _wait(training, 300, "the job to train 3 epochs", proc)
        job_id = next(p.name for p in (sweep_dir / ".submitit").iterdir() if p.is_dir() and p.name[0].isdigit())
        # what SLURM sends `signal_delay_s` before the time limit (or at preemption)
        subprocess.run(["scancel", "--signal=USR1", job_id], check=True)
        hpc = _wait(lambda: next(iter(run_dir.glob("hpc_ckpt_*.ckpt")), None), 60, "the hpc checkpoint", proc)
        _wait(lambda: subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True,
                                     text=True).stdout.strip() == "PENDING", 60, "the requeue", proc)
        # a requeued job waits cred_expire seconds (BeginTime); start it now
        subprocess.run(["scontrol", "update", f"jobid={job_id}", "StartTime=now"], check=True)
        output, _ = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            proc.kill()
            if job_id is not None:
                subprocess.run(["scancel", job_id])
    assert proc.returncode == 0, output[-4000:]

    saved = torch.load(hpc, map_location="cpu", weights_only=False)
    first = json.loads((run_dir / "resume_probe_0.json").read_text())
    resumed = json.loads((run_dir / "resume_probe_1.json").read_text())
    assert first["ckpt_path"] is None and first["global_step"] == 0
    # same SLURM job, restarted once, from the hpc checkpoint, with the saved loop and optimizer state
    assert resumed["job_id"] == first["job_id"] and resumed["restart_count"] == 1
    assert Path(resumed["ckpt_path"]) == hpc
    assert resumed["global_step"] == saved["global_step"]
    # Lightning stores the epoch in progress; when SIGUSR1 lands after that epoch's last step the
    # restored loop already counts it as finished and reports the next epoch (same step, no rerun:
    # the step count below continues exactly)
    assert resumed["epoch"] in (saved["epoch"], saved["epoch"] + 1)
    assert saved["global_step"] >= 3
    assert resumed["optimizer"] == optimizer_digest(saved["optimizer_states"])
    # training continued from there: `stop_after` more epochs, one full-batch step each, except that a
    # restored epoch whose step was already taken (SIGUSR1 in its epoch-end hooks: one step per epoch,
    # so saved step == saved epoch + 1) finishes without another step
    step_already_taken = resumed["epoch"] == saved["epoch"] and saved["global_step"] == saved["epoch"] + 1
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert last["global_step"] == saved["global_step"] + stop_after - int(step_already_taken), (saved["epoch"],
                                                                                                 resumed["epoch"])
    assert float(last["optimizer_states"][0]["state"][0]["step"]) == last["global_step"]
    # the sweep got the resumed job's result
    rows = list(csv.DictReader((sweep_dir / "summary.csv").open()))
    assert rows[0]["status"] == "ok" and float(rows[0]["val/acc_best"]) > 0
    assert _final_sacct_states(job_id)[job_id] == "COMPLETED"

    # both starts of the job logged to one W&B run: the id kept in the run dir
    wandb_id = (run_dir / "wandb_id").read_text().strip()
    offline_runs = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 2 and all(p.name.endswith(f"-{wandb_id}") for p in offline_runs), offline_runs
    assert read_offline_run(offline_runs[-1])["run"]["id"] == wandb_id

    # the same schedule without the interruption ends with the same weights
    reference_dir = tmp_path / "uninterrupted"
    out = subprocess.run(
        [sys.executable, "train.py", *COMMON[3:], f"trainer.max_epochs={last['epoch'] + 1}",
         "callbacks.early_stopping=null", f"hydra.run.dir={reference_dir}"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    reference = torch.load(reference_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert reference["global_step"] == last["global_step"]
    differing = {k: float((v - reference["state_dict"][k]).abs().max()) for k, v in last["state_dict"].items()
                 if not torch.equal(v, reference["state_dict"][k])}
    assert not differing, f"requeued run's final weights differ from the uninterrupted run's (max |diff|): {differing}"


@pytest.mark.parametrize("overrides,message", [
    # the launcher's default cpus_per_task=4 on a smaller node used to pend forever (PartitionConfig)
    (["hydra.launcher.cpus_per_task=4096"], r"4096 CPUs \(cpus_per_task=4096 x tasks_per_node=1\) per node, but the "
                                           r"largest node of partition 'zoo' \(\S+\) has \d+ CPUs"),
    (["hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=100000"],
     r"102400000 MB of memory \(mem_gb=100000\) per node, but the largest node of partition 'zoo' \(\S+\) has \d+ MB"),
    (["hydra.launcher.cpus_per_task=1", "hydra.launcher.gpus_per_node=64"],
     r"64 GPUs \(gpus_per_node=64\) per node, but the largest node of partition 'zoo' \(\S+\) has \d+ GPUs"),
])
def test_job_no_node_can_run_fails_at_submission(tmp_path, overrides, message):
    import re

    sweep_dir = tmp_path / "sweep"
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "train.py", "-m", *[c for c in COMMON if "cpus_per_task" not in c], *overrides,
         "model.optimizer.lr=0.01,0.02", f"hydra.sweep.dir={sweep_dir}"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300,
    )
    assert out.returncode != 0
    assert re.search(message, out.stderr), out.stderr[-3000:]
    assert "no node can ever run it" in out.stderr
    assert time.monotonic() - started < 240
    # nothing was submitted
    submitted = [p for p in (sweep_dir / ".submitit").iterdir()] if (sweep_dir / ".submitit").is_dir() else []
    assert submitted == []


def test_default_cpus_per_task_is_refused_on_a_smaller_node(tmp_path):
    """The launcher's default (cpus_per_task=4) where the largest node has fewer CPUs: an error, not
    a job pending forever."""
    from zoo.utils.slurm import check_schedulable, partition_nodes

    partition, nodes = partition_nodes(None)
    default = yaml.safe_load((ROOT / "conf" / "hydra" / "launcher" / "slurm.yaml").read_text())["cpus_per_task"]
    largest = max(n.cpus for n in nodes)
    if default <= largest:
        pytest.skip(f"the node has {largest} CPUs, enough for the default cpus_per_task={default}")
    with pytest.raises(ValueError, match=rf"{default} CPUs .* has {largest} CPUs"):
        check_schedulable({"cpus_per_task": default, "tasks_per_node": 1, "partition": None})


def test_sbatch_template_runs_ddp_with_one_task_per_device(tmp_path):
    """The multi-GPU template with its GPUs swapped for 2 CPU tasks: 2 DDP ranks, one run dir."""
    out = subprocess.run(
        ["sbatch", "--wait", "--parsable", "--partition=zoo", "--gpus-per-node=0", "--ntasks-per-node=2",
         "--cpus-per-task=1", "--mem=4G", "--time=10", f"--output={tmp_path}/%j.out",
         "slurm/templates/single_node_multi_gpu.sbatch", "experiment=gcn_cora", "trainer.accelerator=cpu",
         "trainer.sync_batchnorm=false", "trainer.max_epochs=3", f"paths.log_dir={tmp_path}",
         "callbacks.progress_bar=null", "extras.print_config=false"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600,
    )
    job_id = out.stdout.strip().split(";")[0]
    log = (tmp_path / f"{job_id}.out").read_text() if job_id else ""
    assert out.returncode == 0, out.stderr + log[-4000:]
    assert "Starting with 2 processes" in log
    run_dir = tmp_path / "gcn_cora" / "runs" / f"slurm_{job_id}"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0.0 < metrics["test/acc"] <= 1.0
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
