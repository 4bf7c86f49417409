"""HAR tasks end to end on UTD-MHAD: pre-training checkpoint -> linear evaluation, t-SNE plots."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import open_dict

from tests.conftest import compose_train
from zoo import cli
from zoo.tasks.multimodal_classification import MultimodalClassificationTask

LIMIT = ["+trainer.limit_train_batches=1", "+trainer.limit_val_batches=1", "+trainer.limit_test_batches=1"]


def test_pretrain_then_linear_eval_loads_frozen_encoders(tmp_path):
    pre_dir, lin_dir = tmp_path / "pre", tmp_path / "lin"
    cfg = compose_train(pre_dir, ["experiment=har_utd_mhad", "seed=0", *LIMIT])
    metrics, objects = cli.train(cfg)
    assert "test/r1" in metrics and (pre_dir / "tsne_skeleton.png").is_file() and (pre_dir / "tsne_inertial.png").is_file()
    ckpt = pre_dir / "checkpoints" / "last.ckpt"
    saved = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]

    cfg = compose_train(lin_dir, ["experiment=har_linear_eval", f"model.pretrained_ckpt={ckpt}", "seed=0",
                                  "model.modalities=[inertial]", *LIMIT])
    metrics, objects = cli.train(cfg)
    model = objects["model"]
    assert {"test/acc", "test/f1"} <= set(metrics)
    # the frozen encoder is exactly the pre-trained one after training
    for key, value in model.encoders.state_dict().items():
        assert torch.equal(value, saved[f"encoders.{key}"]), key
    assert not any(p.requires_grad for p in model.encoders.parameters())
    assert (lin_dir / "tsne_inertial.png").is_file() and not (lin_dir / "tsne_skeleton.png").exists()


def test_linear_eval_bad_checkpoint_is_named(tmp_path):
    cfg = compose_train(tmp_path, ["experiment=har_linear_eval", f"model.pretrained_ckpt={tmp_path}/nope.ckpt"])
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        cli.train(cfg)
    bogus = tmp_path / "bogus.ckpt"
    torch.save({"state_dict": {"net.weight": torch.zeros(1)}}, bogus)
    cfg = compose_train(tmp_path, ["experiment=har_linear_eval", f"model.pretrained_ckpt={bogus}"])
    with pytest.raises(ValueError, match=r"encoders\.skeleton\."):
        cli.train(cfg)


def test_classification_options_are_checked():
    enc = {"a": torch.nn.Linear(2, 2)}
    with pytest.raises(ValueError, match=r"model\.modalities"):
        MultimodalClassificationTask(encoders=enc, num_classes=3, optimizer=torch.optim.Adam, modalities=["b"])
    with pytest.raises(ValueError, match=r"model\.cache_features"):
        MultimodalClassificationTask(encoders=enc, num_classes=3, optimizer=torch.optim.Adam, cache_features=True)
