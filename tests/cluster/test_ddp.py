"""``trainer=ddp_cpu`` (2 gloo processes) gives the 1-process result, family by family.

One :class:`DDPCase` per family: the experiment, the overrides that make the two runs comparable,
and the metrics with their absolute tolerances. Every case is set up so that both runs compute the
same thing, so they must agree to float precision (summation order only); a missing ``sync_dist``,
an unsharded sampler or a missing gather shows up as a difference of whole samples:

- Randomness: Lightning re-seeds every DDP rank at ``fit`` start (after the model is built), so a
  plain 1-process run draws other dropout masks / neighbour samples unless it is re-seeded at the
  same point (``reseed=True``: :class:`tests.cluster.reseed.ReseedLikeDDP`) or dropout is off.
- Mini-batches: a plain run's ``RandomSampler`` and the injected ``DistributedSampler`` (permutation
  seeded with ``seed + epoch``, rank ``r`` takes ``perm[r::2]``) order the data differently. The
  reference of a mini-batch case (``reference="ddp1"``) is therefore one process under the same
  strategy (``trainer=ddp_cpu trainer.devices=1``): the same permutation, unsplit, the same
  re-seeding, and gathers/syncs that are identities, i.e. what a plain run computes. With a
  per-process batch of half the 1-process batch, the two ranks' batches together are the
  1-process batch and the averaged gradient of two half-batch means is the full-batch mean's.
- Batch statistics: ``SyncBatchNorm`` needs a GPU (``trainer=ddp`` turns it on), so on CPU nets whose
  outputs depend on the rest of the batch (batch norm) run without it here.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

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
    #: only in the 1-process / only in the 2-process run (e.g. a per-process batch size)
    single_overrides: tuple[str, ...] = ()
    ddp_overrides: tuple[str, ...] = ()
    #: "plain": a plain Trainer in this process; "ddp1": train.py trainer=ddp_cpu trainer.devices=1
    reference: str = "plain"
    #: (plain reference) re-seed where DDPStrategy re-seeds each rank: the same random draws in training
    reseed: bool = False
    #: builds what the runs need (e.g. teacher checkpoints) in a folder; returns extra overrides
    prepare: Optional[Callable[[Path], list[str]]] = None


def _mpt_teachers(folder: Path) -> list[str]:
    """The MPT update (``model=mpt``) with tiny old and reference teachers (tests/mpt_helpers.py)."""
    from tests.mpt_helpers import mpt_teacher_overrides

    return ["model=mpt", *mpt_teacher_overrides(folder)]


# Capsule ensemble, mini-batch: data.batch_size is per process, so 1 x 64 = 2 x 32; 2 epochs of 4
# batches; smaller nets; no dropout (masks are drawn per process). Polarity accuracy is still at chance
# after 8 steps: the losses and the DBD's domain accuracy (synced metrics, ~0.9) tell the runs apart.
CAPSULE_METRICS = {"val/polarity_acc": 1e-6, "val/domain_acc": 1e-6, "val/loss": 1e-5,
                   "test/polarity_acc": 1e-6, "test/domain_acc": 1e-6, "test/loss": 1e-5}
CAPSULE_OVERRIDES = ("model.net.dropout=0.0", "+trainer.limit_train_batches=4", "model.net.embed_dim=32",
                     "model.net.hidden_dim=32")
CAPSULE_BATCHES = dict(single_overrides=("data.batch_size=64",), ddp_overrides=("data.batch_size=32",),
                       max_epochs=2, reference="ddp1")

DDP_CASES = [
    DDPCase("gcn_cora", {"test/acc": 1e-6, "val/acc_best": 1e-6, "val/loss": 1e-5, "test/loss": 1e-5},
            overrides=("model.net.dropout=0.0",)),
    # TANGNN, full batch (one graph; both ranks see all of it): neighbour sampling (5 per vertex) and
    # dropout stay on; re-seeded like DDP, the plain run draws the same samples and masks.
    DDPCase("tangnn_cora", {"test/acc": 1e-6, "val/acc_best": 1e-6, "val/loss": 1e-5, "test/loss": 1e-5},
            overrides=("callbacks.embedding_tsne=null",), max_epochs=5, reseed=True),
    # Capsule ensemble (per-domain nets, DBD mixing), see CAPSULE_* above.
    DDPCase("capsule_blitzer", CAPSULE_METRICS, overrides=CAPSULE_OVERRIDES, **CAPSULE_BATCHES),
    # The same with the pooled warm-up (epoch 0 tied nets trained on every domain, epoch 1 per-domain
    # fine-tuning at half the rate) and a shared embedding table: the tied copies take part in the loss with
    # zero gradients, so DDP reduces every parameter in both phases, and the switch is rank-independent.
    DDPCase("capsule_blitzer", CAPSULE_METRICS,
            overrides=(*CAPSULE_OVERRIDES, "model.pooled_warmup_epochs=1", "model.finetune_lr_scale=0.5",
                       "model.share_embeddings=true"),
            id="capsule_blitzer_pooled_warmup", **CAPSULE_BATCHES),
    # MPT update (old + reference teachers, margin bias, focal distillation) on 1,024 Fashion-MNIST
    # images: data.batch_size (128) is global, halved per process; batch norm off (no CPU SyncBN).
    # Accuracies and flip rates agree exactly; the losses to ~1e-4 (measured 7e-5 on 2.86): SGD with
    # momentum at lr 0.05 amplifies the all-reduce's float rounding over 16 steps. A sharding or sync
    # bug moves them by ~1e-2 (the two ranks' half-batch losses differ by that much).
    DDPCase("mpt_fmnist", {"val/acc": 1e-6, "val/nfr": 1e-6, "val/loss": 1e-3, "test/acc": 1e-6,
                           "test/nfr": 1e-6, "test/rnfr": 1e-6, "test/old_acc": 1e-6, "test/loss": 1e-3},
            overrides=("data.datamodule.train_subset=1024", "data.datamodule.val_size=256",
                       "data.datamodule.eval_batch_size=1000", "model.net.batch_norm=false",
                       "model.net.dropout=0.0"),
            max_epochs=2, reference="ddp1", id="mpt_fmnist_update", prepare=_mpt_teachers),
    # HAR hard-negative contrastive pre-training: data.batch_size (64) is global, 32 per process; the
    # loss gathers both processes' embeddings, so every anchor sees the 1-process batch's candidates.
    # No augmentations/dropout (per-sample random draws), no batch norm in the encoders or the
    # projections (no CPU SyncBN: each process would normalise its half batch alone).
    DDPCase("har_utd_mhad", {"val/loss": 1e-5, "val/r1": 1e-6, "test/loss": 1e-5, "test/r1": 1e-6},
            overrides=("data.train_transforms=null", "model.encoders.skeleton.dropout=0.0",
                       "model.encoders.inertial.dropout=0.0", "model.encoders.skeleton.batch_norm=false",
                       "model.encoders.inertial.batch_norm=false", "+model.projections.skeleton.batch_norm=false",
                       "+model.projections.inertial.batch_norm=false", "model.plot_tsne=false",
                       "+trainer.limit_train_batches=4"),
            max_epochs=2, reference="ddp1"),
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


def _train_py(args: list[str], run_dir: Path, tmp_path: Path, devices: int) -> dict:
    """``train.py ... trainer=ddp_cpu trainer.devices=<devices>`` in a subprocess; its metrics.json."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    out = subprocess.run(
        [sys.executable, "train.py", *args, "trainer=ddp_cpu", f"trainer.devices={devices}",
         "logger=csv", "extras.print_config=false",
         f"hydra.run.dir={run_dir}", f"paths.log_dir={tmp_path / 'logs'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    assert "distributed_backend=gloo" in out.stderr + out.stdout
    assert f"All distributed processes registered. Starting with {devices} processes" in out.stderr + out.stdout
    return json.loads((run_dir / "metrics.json").read_text())


# gcn_cora stays in the default suite; each family's case runs with `make test-multiprocess` (CI runs it)
DDP_PARAMS = [pytest.param(c, id=c.id or c.experiment,
                           marks=() if c.experiment == "gcn_cora" else pytest.mark.multiprocess) for c in DDP_CASES]


@pytest.mark.parametrize("case", DDP_PARAMS)
def test_ddp_cpu_matches_single_process(case: DDPCase, tmp_path):
    common = [f"experiment={case.experiment}", *case.overrides, "seed=7", f"trainer.max_epochs={case.max_epochs}",
              "callbacks.early_stopping=null", "callbacks.progress_bar=null"]
    if case.prepare is not None:
        common += case.prepare(tmp_path / "prepared")
    if case.reference == "ddp1":  # 1 process, same sampler and seeding as the ranks (module docstring)
        single = _train_py(common + list(case.single_overrides), tmp_path / "single", tmp_path, devices=1)
    else:  # 1 process, in this process
        cfg = compose_train(tmp_path / "single", common + list(case.single_overrides))
        with open_dict(cfg):
            cfg.trainer.max_epochs = case.max_epochs
            if case.reseed:
                cfg.callbacks.reseed_like_ddp = {"_target_": "tests.cluster.reseed.ReseedLikeDDP"}
        single, _ = cli.train(cfg)

    # 2 processes (gloo): train.py re-launches itself for rank 1 from the saved Hydra config
    ddp = _train_py(common + list(case.ddp_overrides), tmp_path / "ddp", tmp_path, devices=2)
    for name, tol in case.metrics.items():
        assert ddp[name] == pytest.approx(single[name], abs=tol), (name, ddp[name], single[name])


@pytest.mark.multiprocess
def test_ddp_capsule_ensemble_trains_when_a_process_batch_lacks_a_domain(tmp_path):
    """Per-domain capsule nets under DDP with 2 documents per process and 4 domains: in every step each
    process lacks at least two domains, whose nets then produce no loss term there. DDP (without
    find_unused_parameters) would stop with "parameters that were not used in producing the loss";
    the task adds the absent nets with zero gradients under DDP instead."""
    metrics = _train_py(["experiment=capsule_blitzer", *CAPSULE_OVERRIDES, "data.batch_size=2", "seed=7",
                         "trainer.max_epochs=1", "+trainer.limit_val_batches=2", "test=false",
                         "callbacks.early_stopping=null", "callbacks.progress_bar=null"],
                        tmp_path / "ddp", tmp_path, devices=2)
    assert math.isfinite(metrics["train/loss"]) and math.isfinite(metrics["val/loss"])
