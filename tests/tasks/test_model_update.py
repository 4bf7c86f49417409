"""Model-update task: teachers from checkpoints, margin bias in training only, bad inputs, eval NFR."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.conftest import compose_eval
from tests.mpt_helpers import tiny_cfg, train_tiny
from zoo import cli


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("mpt_ckpts")
    _, old = train_tiny(root / "old", ["experiment=mpt_fmnist_old", "seed=0"])
    _, ref = train_tiny(root / "ref", ["experiment=mpt_fmnist", "seed=1"])
    return {"old": old, "ref": ref}


@pytest.fixture(scope="module")
def cora_checkpoints(tmp_path_factory):
    """Two GCN checkpoints on Cora (another classification family), one full-batch step each."""
    root = tmp_path_factory.mktemp("gcn_ckpts")
    ckpts = []
    for seed in (0, 1):
        cfg = tiny_cfg(root / f"gcn{seed}", ["experiment=gcn_cora", f"seed={seed}"], tiny_data=False)
        _, objects = cli.train(cfg)
        ckpts.append(objects["trainer"].checkpoint_callback.best_model_path)
    return ckpts


def _mpt_overrides(ckpts, **extra):
    overrides = ["experiment=mpt_fmnist", "model=mpt", f"model.old_ckpt={ckpts['old']}",
                 f"model.reference_ckpt={ckpts['ref']}"]
    return overrides + [f"{k}={v}" for k, v in extra.items()]


def test_mpt_trains_and_eval_reproduces_nfr(checkpoints, tmp_path):
    metrics, objects = cli.train(tiny_cfg(tmp_path / "mpt", _mpt_overrides(checkpoints)))
    for key in ("test/acc", "test/old_acc", "test/nfr", "test/rnfr", "train/fd_old", "train/fd_ref", "val/nfr"):
        assert key in metrics, sorted(metrics)
    assert 0.0 <= metrics["test/nfr"] <= 1.0
    best = objects["trainer"].checkpoint_callback.best_model_path
    # eval.py ckpt_path=MPT eval.reference_ckpt=OLD reports the same NFR as the task's own test
    eval_cfg = compose_eval(tmp_path / "eval", [f"ckpt_path={best}", f"eval.reference_ckpt={checkpoints['old']}",
                                                "+trainer.limit_test_batches=1"])
    eval_metrics, _ = cli.evaluate(eval_cfg)
    assert eval_metrics["test/nfr"] == pytest.approx(metrics["test/nfr"], abs=1e-6)
    assert eval_metrics["test/old_acc"] == pytest.approx(metrics["test/old_acc"], abs=1e-6)


def test_margin_bias_only_in_training_loss(checkpoints, tmp_path):
    cfg = tiny_cfg(tmp_path, _mpt_overrides(checkpoints, **{"model.loss.margin_bias": 4.0}))
    datamodule, model = cli._build(cfg)
    datamodule.setup("fit")
    x, y = next(iter(datamodule.train_dataloader()))
    model.eval()
    with torch.no_grad():
        logits = model.net(x)
        # evaluation/prediction: plain logits
        eval_logits, _ = model.predictions_and_targets((x, y))
        assert torch.equal(eval_logits, logits)
        assert torch.equal(model.predict_step((x, y), 0)["class"], logits.argmax(-1))
        # training: CE over z + b on the new classes, distillation on z
        loss = model.training_loss(logits, x, y)
        bias = torch.tensor([0.0] * 5 + [4.0] * 5)
        ce = F.cross_entropy(logits + bias, y)
        fd = model.loss_fn.distillation
        expected = ce + fd(logits[:, :5], model.old_net(x), y) + fd(logits, model.reference_net(x), y)
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    assert float(loss) != pytest.approx(float(F.cross_entropy(logits, y) + expected - ce), rel=1e-4)
    # teachers are frozen and stay in eval mode while training
    model.train()
    assert not model.old_net.training and not model.reference_net.training
    assert not any(p.requires_grad for p in model.old_net.parameters())
    trainable = {id(p) for g in model.configure_optimizers()["optimizer"].param_groups for p in g["params"]}
    assert not any(id(p) in trainable for p in model.reference_net.parameters())


def test_reference_with_other_class_count_is_rejected(checkpoints, tmp_path):
    cfg = tiny_cfg(tmp_path, ["experiment=mpt_fmnist", "model=mpt", f"model.old_ckpt={checkpoints['old']}",
                              f"model.reference_ckpt={checkpoints['old']}"])
    with pytest.raises(ValueError, match=r"model.reference_ckpt=.*5 classes; expected model.num_classes=10"):
        cli.train(cfg)


def test_old_with_other_class_count_is_rejected(checkpoints, tmp_path):
    cfg = tiny_cfg(tmp_path, ["experiment=mpt_fmnist", "model=pct", f"model.old_ckpt={checkpoints['ref']}"])
    with pytest.raises(ValueError, match=r"model.old_ckpt=.*10 classes; expected model.num_old_classes=5"):
        cli.train(cfg)


def test_reference_from_other_datamodule_is_rejected(checkpoints, cora_checkpoints, tmp_path):
    # a zoo checkpoint of another family: GCN on Cora
    cora_ckpt = cora_checkpoints[0]
    cfg = tiny_cfg(tmp_path / "mpt", ["experiment=mpt_fmnist", "model=mpt", f"model.old_ckpt={checkpoints['old']}",
                                      f"model.reference_ckpt={cora_ckpt}"])
    with pytest.raises(ValueError, match="model.reference_ckpt="):
        cli.train(cfg)
    # and eval.py refuses NFR between checkpoints of different datasets
    eval_cfg = compose_eval(tmp_path / "eval", [f"ckpt_path={checkpoints['ref']}", f"eval.reference_ckpt={cora_ckpt}",
                                                "+trainer.limit_test_batches=1"])
    with pytest.raises(ValueError, match="eval.reference_ckpt=.*PlanetoidDataModule"):
        cli.evaluate(eval_cfg)


def test_old_class_count_not_below_total_is_rejected(tmp_path):
    for k in (10, 12):
        cfg = tiny_cfg(tmp_path, ["experiment=mpt_fmnist_old", f"data.num_old_classes={k}"])
        with pytest.raises(ValueError, match=rf"data.num_old_classes={k}; expected an int in \[1, 9\]"):
            cli.train(cfg)


def test_missing_checkpoints_are_reported(checkpoints, tmp_path):
    cfg = tiny_cfg(tmp_path, ["experiment=mpt_fmnist", "model=pct", "model.old_ckpt=/no/such/old.ckpt"])
    with pytest.raises(FileNotFoundError, match="model.old_ckpt='/no/such/old.ckpt'"):
        cli.train(cfg)
    cfg = tiny_cfg(tmp_path, ["experiment=mpt_fmnist", "model=mpt", f"model.old_ckpt={checkpoints['old']}",
                              "model.reference_ckpt=/no/such/ref.ckpt"])
    with pytest.raises(FileNotFoundError, match="model.reference_ckpt='/no/such/ref.ckpt'"):
        cli.train(cfg)
    cfg = tiny_cfg(tmp_path, ["experiment=mpt_fmnist", "model=mpt"])
    with pytest.raises(ValueError, match="model.old_ckpt is required"):
        cli.train(cfg)
    cfg = tiny_cfg(tmp_path, ["experiment=mpt_fmnist", "model=mpt", f"model.old_ckpt={checkpoints['old']}"])
    with pytest.raises(ValueError, match="model.reference_ckpt is required"):
        cli.train(cfg)
    eval_cfg = compose_eval(tmp_path / "eval", [f"ckpt_path={checkpoints['ref']}", "eval.reference_ckpt=/no/such.ckpt"])
    with pytest.raises(FileNotFoundError, match="eval.reference_ckpt='/no/such.ckpt'"):
        cli.evaluate(eval_cfg)


def test_eval_nfr_between_two_checkpoints_of_another_family(cora_checkpoints, tmp_path):
    """eval.reference_ckpt works for any classification task: two GCN checkpoints on Cora."""
    ckpts = cora_checkpoints
    metrics, objects = cli.evaluate(compose_eval(tmp_path / "eval", [f"ckpt_path={ckpts[1]}",
                                                                   f"eval.reference_ckpt={ckpts[0]}"]))
    assert 0.0 < metrics["test/nfr"] <= 1.0 and "test/rnfr" in metrics  # two different seeds disagree
    assert "test/old_acc" in metrics
    # against itself: no flips
    same, _ = cli.evaluate(compose_eval(tmp_path / "eval2", [f"ckpt_path={ckpts[0]}", f"eval.reference_ckpt={ckpts[0]}"]))
    assert same["test/nfr"] == 0.0
