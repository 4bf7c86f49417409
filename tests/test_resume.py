"""A killed train.py resumes from its last checkpoint with the same epoch, step and optimizer state."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from tests.conftest import ROOT

COMMON = [
    "experiment=gcn_cora", "logger=csv", "callbacks.early_stopping=null", "callbacks.progress_bar=null",
    "trainer.accelerator=cpu", "extras.print_config=false",
]


def _last_ckpts(log_dir: Path) -> list[Path]:
    return sorted(log_dir.glob("gcn_cora/runs/*/checkpoints/last.ckpt"))


def test_killed_run_resumes_from_last_checkpoint(tmp_path):
    log_dir = tmp_path / "logs"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "train.py", *COMMON, f"paths.log_dir={log_dir}", "trainer.max_epochs=100000"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            ckpts = _last_ckpts(log_dir)
            if ckpts and torch.load(ckpts[0], map_location="cpu", weights_only=False)["epoch"] >= 3:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("no last.ckpt after 180 s")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    killed = torch.load(_last_ckpts(log_dir)[0], map_location="cpu", weights_only=False)
    saved_epoch, saved_step = killed["epoch"], killed["global_step"]
    extra = 3
    out = subprocess.run(
        [sys.executable, "train.py", *COMMON, f"paths.log_dir={log_dir}", "ckpt_path=last",
         f"trainer.max_epochs={saved_epoch + 1 + extra}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Restored all states from the checkpoint" in out.stderr + out.stdout

    resumed_dir = [p for p in _last_ckpts(log_dir) if p != _last_ckpts(log_dir)[0]]
    assert resumed_dir, "the resumed run wrote no checkpoint"
    resumed = torch.load(resumed_dir[-1], map_location="cpu", weights_only=False)
    # continued counting: the resumed run did exactly `extra` more epochs (1 full-batch step each)
    assert resumed["epoch"] == saved_epoch + extra
    assert resumed["global_step"] == saved_step + extra
    adam_before = killed["optimizer_states"][0]["state"][0]["step"]
    adam_after = resumed["optimizer_states"][0]["state"][0]["step"]
    assert float(adam_after) == float(adam_before) + extra

    # the resumed run's metrics start at the epoch after the saved one
    metrics_csv = resumed_dir[-1].parents[1] / "csv" / "metrics.csv"
    import csv

    epochs = {int(r["epoch"]) for r in csv.DictReader(metrics_csv.open()) if r.get("epoch")}
    assert min(epochs) == saved_epoch + 1
