"""A run killed with SIGKILL at any point and resumed with ``ckpt_path=last`` ends bit-exactly like
the run left alone: the same weights, the same best checkpoint and score, the same test metrics and
the same logged validation curve, in the checkpoint's own run directory.

One experiment per family; each run is a few batches per epoch for a few epochs. The kill step is
drawn at random (the assertion messages name it), after a training batch or inside validation.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest
import torch

from tests.conftest import ROOT, SHARED_DATA

# the kill callback is stored in the run's config: the resuming reader trusts it by name
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline",
       "ZOO_TRUSTED_TARGETS": "tests.resume_faults.KillAt",
       "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
BASE = ["logger=csv", "callbacks.early_stopping=null", "callbacks.progress_bar=null", "trainer.accelerator=cpu",
        "trainer.devices=1", "extras.print_config=false", "++trainer.enable_model_summary=false",
        # bit-exact needs deterministic kernels: CPU scatter-adds (embedding backward) differ run to run
        "trainer.deterministic=true"]
KILL = "+callbacks.kill._target_=tests.resume_faults.KillAt"


def _train(log_dir: Path, overrides: list[str], timeout: int = 600, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "train.py", *BASE, f"paths.log_dir={log_dir}", *overrides],
                         cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout)
    if check:
        assert out.returncode == 0, out.stderr[-4000:]
    return out


def _run_dirs(log_dir: Path) -> list[Path]:
    """Run directories that hold checkpoints."""
    return sorted(p.parent for p in log_dir.glob("*/runs/*/checkpoints"))


def _best(ckpt: dict) -> Optional[tuple[str, float]]:
    """``(file name, score)`` of the best-checkpoint callback's state in a checkpoint; ``None`` for an
    experiment whose checkpoint callback monitors nothing (HAR pre-training keeps the last epoch)."""
    monitored = False
    for key, state in ckpt["callbacks"].items():
        if key.startswith("ModelCheckpoint") and "'monitor': None" not in key:
            monitored = True
            if "best_model_path" in state and state.get("best_model_score") is not None:
                return Path(state["best_model_path"]).name, float(state["best_model_score"])
    assert not monitored, f"no best-checkpoint state in {list(ckpt['callbacks'])}"
    return None


def _val_curve(run_dir: Path) -> list[tuple[int, str]]:
    rows = csv.DictReader((run_dir / "csv" / "metrics.csv").open())
    return [(int(r["epoch"]), r[k]) for r in rows for k in sorted(r) if k.startswith("val/") and r[k]]


def _outcome(run_dir: Path) -> dict:
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    _assert_plain_resume_state(last)
    return {"weights": last["state_dict"], "epoch": last["epoch"], "step": last["global_step"],
            "best": _best(last), "metrics": json.loads((run_dir / "metrics.json").read_text()),
            "val_curve": _val_curve(run_dir)}


def _assert_plain_resume_state(ckpt: dict) -> None:
    """The random states, datamodule state and best values load with ``weights_only=True``."""
    import io

    from zoo.callbacks.resume_state import RNG_KEY
    from zoo.tasks.base import BEST_KEY

    assert RNG_KEY in ckpt and BEST_KEY in ckpt
    keys = [RNG_KEY, BEST_KEY, "loops"] + [k for k in ckpt if k.endswith("DataModule")]
    buffer = io.BytesIO()
    torch.save({k: ckpt[k] for k in keys}, buffer)
    buffer.seek(0)
    torch.load(buffer, weights_only=True)


def _assert_same(resumed: dict, reference: dict, where: str) -> None:
    assert (resumed["epoch"], resumed["step"]) == (reference["epoch"], reference["step"]), where
    assert resumed["weights"].keys() == reference["weights"].keys(), where
    differ = [k for k in reference["weights"] if not torch.equal(resumed["weights"][k], reference["weights"][k])]
    assert not differ, f"{where}: weights differ in {differ[:5]}"
    assert resumed["best"] == reference["best"], where
    test = {k: v for k, v in reference["metrics"].items() if k.startswith(("test/", "val/"))}
    assert {k: resumed["metrics"].get(k) for k in test} == test, where
    assert resumed["val_curve"] == reference["val_curve"], where


def kill_and_resume(tmp_path: Path, overrides: list[str], steps: int, per_epoch: int, where: str) -> None:
    """Train uninterrupted (``steps`` steps, ``per_epoch`` an epoch); train again, SIGKILLed at a
    random step after the first epoch's checkpoint, resume with ``ckpt_path=last``; compare."""
    _train(tmp_path / "ref", overrides)
    (reference_dir,) = _run_dirs(tmp_path / "ref")
    reference = _outcome(reference_dir)

    step = random.randint(per_epoch + 1, steps - 1)
    context = f"killed {where} at step {step} of {steps}"
    log_dir = tmp_path / "run"
    killed = _train(log_dir, [*overrides, KILL, f"+callbacks.kill.step={step}", f"+callbacks.kill.where={where}"],
                    check=False)
    assert killed.returncode == -signal.SIGKILL, f"{context}: exit {killed.returncode}\n{killed.stderr[-3000:]}"
    resumed_run = _train(log_dir, [*overrides, "ckpt_path=last"], check=False)
    assert resumed_run.returncode == 0, f"{context}\n{resumed_run.stderr[-4000:]}"
    assert "Restored all states from the checkpoint" in resumed_run.stdout + resumed_run.stderr, context
    (run_dir,) = _run_dirs(log_dir)  # continued in the killed run's directory, no second one
    _assert_same(_outcome(run_dir), reference, context)


def test_kill_and_resume_gcn_cora(tmp_path):
    """Full-graph node classification with dropout: 1 step per epoch, killed after a random step."""
    kill_and_resume(tmp_path, ["experiment=gcn_cora", "seed=5", "trainer.max_epochs=6"], steps=6, per_epoch=1,
                    where="train_batch")


@pytest.mark.multiprocess
@pytest.mark.parametrize("where", ["train_batch", "validation"])
def test_kill_and_resume_tangnn_zinc(tmp_path, where):
    """Mini-batches of graphs (shuffled), TANGNN neighbour sampling and dropout."""
    overrides = ["experiment=tangnn_zinc", "seed=7", "trainer.max_epochs=3", "model.net.sample_size=3",
                 "++trainer.limit_train_batches=4", "++trainer.limit_val_batches=2", "++trainer.limit_test_batches=2"]
    kill_and_resume(tmp_path, overrides, steps=12, per_epoch=4, where=where)


@pytest.mark.multiprocess
def test_kill_and_resume_tangnn_cora(tmp_path):
    """TANGNN node classification: neighbour sampling from the global RNG, dropout."""
    kill_and_resume(tmp_path, ["experiment=tangnn_cora", "seed=2", "trainer.max_epochs=4",
                               "model.net.hidden_channels=32", "model.net.num_layers=2"],
                    steps=4, per_epoch=1, where="train_batch")


@pytest.mark.multiprocess
def test_kill_and_resume_kge_rotate_umls(tmp_path):
    """KGE with negative sampling (the sampler's own generator) and a shuffled triple loader."""
    overrides = ["experiment=rotate_umls", "seed=3", "trainer.max_epochs=3", "++trainer.limit_train_batches=4",
                 "trainer.check_val_every_n_epoch=1"]
    kill_and_resume(tmp_path, overrides, steps=12, per_epoch=4, where="train_batch")


@pytest.mark.multiprocess
def test_kill_and_resume_mpt_fmnist(tmp_path):
    """Image classification (model-update family's reference model) on Fashion-MNIST: shuffled loader."""
    overrides = ["experiment=mpt_fmnist", "seed=4", "trainer.max_epochs=3", "++trainer.limit_train_batches=4",
                 "++trainer.limit_val_batches=2", "++trainer.limit_test_batches=2"]
    kill_and_resume(tmp_path, overrides, steps=12, per_epoch=4, where="train_batch")


@pytest.mark.multiprocess
@pytest.mark.skipif(not (SHARED_DATA / "har" / "utd_mhad").exists(), reason="UTD-MHAD not in the shared data")
def test_kill_and_resume_har_utd_mhad(tmp_path):
    """HAR contrastive pre-training with skeleton and inertial augmentations (the dataset's generator)."""
    overrides = ["experiment=har_utd_mhad", "seed=1", "trainer.max_epochs=3", "++trainer.limit_train_batches=3",
                 "++trainer.limit_val_batches=2", "++trainer.limit_test_batches=2"]
    kill_and_resume(tmp_path, overrides, steps=9, per_epoch=3, where="train_batch")


@pytest.mark.multiprocess
def test_kill_and_resume_capsule_blitzer(tmp_path):
    """Capsule ensemble on multi-domain sentiment: shuffled text loader, dropout, two best values."""
    overrides = ["experiment=capsule_blitzer", "seed=6", "trainer.max_epochs=3", "++trainer.limit_train_batches=3",
                 "++trainer.limit_val_batches=2", "++trainer.limit_test_batches=2"]
    kill_and_resume(tmp_path, overrides, steps=9, per_epoch=3, where="train_batch")


def _inprocess_cfg(run_dir: Path, overrides: list[str]):
    from omegaconf import open_dict

    from tests.conftest import compose_train

    cfg = compose_train(run_dir, overrides)
    with open_dict(cfg):
        cfg.callbacks.early_stopping = None
        cfg.trainer.max_epochs = 3
        cfg.trainer.limit_train_batches = 4
        cfg.trainer.check_val_every_n_epoch = 1
        cfg.trainer.deterministic = True
    return cfg


def test_slurm_hpc_checkpoint_restores_mid_epoch(tmp_path, monkeypatch, caplog):
    """Lightning's SLURM requeue path without a cluster: an ``hpc_ckpt`` saved in the middle of an
    epoch (step 6 of 4 per epoch), restored by the requeued job (SLURM environment, no ckpt_path),
    ends with the uninterrupted run's weights, best checkpoint and test metrics: the resumed epoch
    skips exactly the consumed batches of the same order, the negative sampler and the global RNGs
    continue."""
    from omegaconf import open_dict

    from tests.resume_faults import Preempted
    from zoo import cli

    overrides = ["experiment=rotate_umls", "seed=3"]
    ref_metrics, ref = cli.train(_inprocess_cfg(tmp_path / "ref", overrides))

    cfg = _inprocess_cfg(tmp_path / "run", overrides)
    with open_dict(cfg):
        cfg.callbacks.hpc = {"_target_": "tests.resume_faults.SaveHpcAt", "step": 6}
    with pytest.raises(Preempted):
        cli.train(cfg)
    hpc = torch.load(tmp_path / "run" / "hpc_ckpt_1.ckpt", map_location="cpu", weights_only=False)
    assert (hpc["epoch"], hpc["global_step"]) == (1, 6)
    _assert_plain_resume_state(hpc)
    assert hpc["loops"]["fit_loop"]["state_dict"]["combined_loader"][0]["batches"] == 2

    for key, value in {"SLURM_NTASKS": "1", "SLURM_JOB_NAME": "zoo", "SLURM_JOB_ID": "1", "SLURM_PROCID": "0",
                       "SLURM_LOCALID": "0", "SLURM_NODEID": "0", "SLURM_NODELIST": "localhost"}.items():
        monkeypatch.setenv(key, value)
    with caplog.at_level("INFO"):
        metrics, resumed = cli.train(_inprocess_cfg(tmp_path / "run", overrides))
    assert f"Restored all states from the checkpoint at {tmp_path / 'run' / 'hpc_ckpt_1.ckpt'}" in caplog.text
    assert resumed["trainer"].global_step == ref["trainer"].global_step == 12
    ref_weights, weights = ref["model"].state_dict(), resumed["model"].state_dict()
    assert [k for k in ref_weights if not torch.equal(ref_weights[k], weights[k])] == []
    ref_best, best = ref["trainer"].checkpoint_callback, resumed["trainer"].checkpoint_callback
    assert Path(best.best_model_path).name == Path(ref_best.best_model_path).name
    assert float(best.best_model_score) == float(ref_best.best_model_score)
    assert {k: v for k, v in metrics.items() if k.startswith("test/")} == \
        {k: v for k, v in ref_metrics.items() if k.startswith("test/")}


@pytest.mark.multiprocess
@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="needs /dev/shm (another filesystem for $TMPDIR)")
def test_kill_during_checkpoint_write_keeps_previous_checkpoint(tmp_path):
    """SIGKILL while ``last.ckpt`` is being rewritten (its temporary file exists), with ``$TMPDIR`` on
    another filesystem: the previous ``last.ckpt`` is whole and the run resumes from it."""
    tmpdir = Path("/dev/shm") / f"zoo-resume-{os.getpid()}"
    tmpdir.mkdir(exist_ok=True)
    log_dir = tmp_path / "logs"
    # 4096 hidden units: a ~70 MB checkpoint, so a write lasts long enough to be caught
    overrides = ["experiment=gcn_cora", "seed=1", "model.net.hidden_channels=4096", "trainer.max_epochs=200"]
    proc = subprocess.Popen([sys.executable, "train.py", *BASE, f"paths.log_dir={log_dir}", *overrides], cwd=ROOT,
                            env={**ENV, "TMPDIR": str(tmpdir)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    caught = None
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None and caught is None:
            for folder in log_dir.glob("gcn_cora/runs/*/checkpoints"):
                if (folder / "last.ckpt").is_file() and list(folder.glob(".last.ckpt.*.tmp")):
                    caught = folder
            time.sleep(0.002)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert caught is not None, "no checkpoint write was caught in progress"
    assert list(caught.glob(".last.ckpt.*.tmp")), "the kill landed after the write finished"
    assert not list(tmpdir.glob("*ckpt*")), "no checkpoint is staged in $TMPDIR"
    previous = torch.load(caught / "last.ckpt", map_location="cpu", weights_only=False)
    epoch = previous["epoch"]
    out = _train(log_dir, [*overrides[:-1], f"trainer.max_epochs={epoch + 2}", "ckpt_path=last"])
    assert f"Restored all states from the checkpoint at {caught / 'last.ckpt'}" in out.stdout + out.stderr
    assert torch.load(caught / "last.ckpt", map_location="cpu", weights_only=False)["epoch"] == epoch + 1
    shutil.rmtree(tmpdir, ignore_errors=True)
