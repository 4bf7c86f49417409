"""``trainer=ddp_cpu`` (2 gloo processes) gives the 1-process result, family by family.

One :class:`DDPCase` per family: the experiment, the overrides that make the two runs comparable
(few epochs; no dropout, because Lightning re-seeds every rank at ``fit`` start, so dropout masks
differ from a 1-process run's stream), and the metrics with their absolute tolerances. A full-batch
task (Cora) must match to float precision; a mini-batch task sees half the batch per rank with
``DistributedSampler`` and gets a looser tolerance.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field

import pytest
from omegaconf import open_dict

from tests.conftest import ROOT, compose_train
from zoo import cli


@dataclass(frozen=True)
class DDPCase:
    experiment: str
    #: metric name -> absolute tolerance between the DDP and the 1-process run
    metrics: dict[str, float]
    overrides: tuple[str, ...] = ()
    max_epochs: int = 10
    id: str = field(default="")


DDP_CASES = [
    DDPCase("gcn_cora", {"test/acc": 1e-6, "val/acc_best": 1e-6, "val/loss": 1e-5, "test/loss": 1e-5},
            overrides=("model.net.dropout=0.0",)),
    # KGE: evaluation is sharded by the DistributedSampler (Nations' 199 valid / 201 test triples are
    # padded with a repeat on 2 ranks) and RankBasedMetrics gathers ranks with their triple indices,
    # counting each triple once. Training itself legitimately differs under DDP (each rank draws its
    # own negatives from seed + rank), so lr=0 keeps both runs on the same seeded initial weights while
    # the whole DDP loop (sampler, loss, backward, all-reduce, TransE's renormalisation) still runs:
    # filtered ranks of identical weights must then agree to float precision (MR is ~3, hence 1e-5).
    DDPCase("transe_nations", {"val/mrr": 1e-6, "val/mrr_best": 1e-6, "test/mrr": 1e-6, "test/hits@1": 1e-6,
                               "test/hits@10": 1e-6, "test/mr": 1e-5},
            overrides=("model.optimizer.lr=0.0", "trainer.check_val_every_n_epoch=1"), max_epochs=2,
            id="transe_nations_eval"),
]


@pytest.mark.parametrize("case", DDP_CASES, ids=[c.id or c.experiment for c in DDP_CASES])
def test_ddp_cpu_matches_single_process(case: DDPCase, tmp_path):
    common = [f"experiment={case.experiment}", *case.overrides, "seed=7", "callbacks.early_stopping=null",
              "callbacks.progress_bar=null"]
    # 1 process, in this process
    cfg = compose_train(tmp_path / "single", common)
    with open_dict(cfg):
        cfg.trainer.max_epochs = case.max_epochs
    single, _ = cli.train(cfg)

    # 2 processes (gloo): train.py re-launches itself for rank 1 from the saved Hydra config
    run_dir = tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    out = subprocess.run(
        [sys.executable, "train.py", *common, "trainer=ddp_cpu", f"trainer.max_epochs={case.max_epochs}",
         "logger=csv", "extras.print_config=false",
         f"hydra.run.dir={run_dir}", f"paths.log_dir={tmp_path / 'logs'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    assert "distributed_backend=gloo" in out.stderr + out.stdout
    assert "All distributed processes registered. Starting with 2 processes" in out.stderr + out.stdout
    ddp = json.loads((run_dir / "metrics.json").read_text())
    for name, tol in case.metrics.items():
        assert ddp[name] == pytest.approx(single[name], abs=tol), (name, ddp[name], single[name])
