"""HAR tasks end to end on UTD-MHAD: pre-training checkpoint -> linear evaluation, t-SNE plots."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import open_dict

from tests.conftest import compose_train
from zoo import cli
from zoo.tasks.multimodal_classification import MultimodalClassificationTask, scale_modalities

LIMIT = ["+trainer.limit_train_batches=1", "+trainer.limit_val_batches=1", "+trainer.limit_test_batches=1"]


def test_pretrain_then_linear_eval_loads_frozen_encoders(tmp_path):
    pre_dir, lin_dir = tmp_path / "pre", tmp_path / "lin"
    cfg = compose_train(pre_dir, ["experiment=har_utd_mhad", "seed=0", *LIMIT])
    metrics, objects = cli.train(cfg)
    assert "test/r1" in metrics and (pre_dir / "tsne_skeleton.png").is_file() and (pre_dir / "tsne_inertial.png").is_file()
    ckpt = pre_dir / "checkpoints" / "last.ckpt"
    saved = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]

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


def test_linear_eval_trains_on_augmented_recordings_and_refuses_to_cache_them(tmp_path):
    """The probe recomputes the frozen features of augmented training recordings every epoch;
    caching them would freeze the first epoch's augmentations, so that combination is an error."""
    cfg = compose_train(tmp_path, ["experiment=har_linear_eval", "seed=0", "model.plot_tsne=false", *LIMIT])
    assert not cfg.model.cache_features
    _, objects = cli.train(cfg)
    assert set(objects["datamodule"].train_transforms) == {"skeleton", "inertial"}
    assert not objects["model"].cached_stages
    cfg = compose_train(tmp_path, ["experiment=har_linear_eval", "model.cache_features=true", *LIMIT])
    with pytest.raises(ValueError, match=r"model\.cache_features=true with data\.train_transforms"):
        cli.train(cfg)
    cfg = compose_train(tmp_path, ["experiment=har_linear_eval", "model.cache_features=true",
                                   "data.train_transforms=null", "model.plot_tsne=false", *LIMIT])
    _, objects = cli.train(cfg)
    assert "train" in objects["model"].cached_stages


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


def test_mlp_head_option_adds_linear_bn_relu_per_modality():
    """head_hidden: CMC-CMKM's evaluation head, Linear-BN-ReLU per modality before the classifier."""
    torch.manual_seed(0)
    enc = {"a": torch.nn.Linear(4, 6), "b": torch.nn.Linear(3, 5)}
    task = MultimodalClassificationTask(encoders=enc, num_classes=3, optimizer=torch.optim.Adam, head_hidden=8,
                                        feature_norm=False, plot_tsne=False)
    assert [type(m).__name__ for m in task.head["a"]] == ["Linear", "BatchNorm1d", "ReLU"]
    assert task.head["a"][0].in_features == 6 and task.head["b"][0].in_features == 5
    assert task.classifier.in_features == 16
    batch = {"a": torch.randn(7, 4), "b": torch.randn(7, 3), "label": torch.zeros(7, dtype=torch.long)}
    logits = task(batch)
    assert logits.shape == (7, 3)
    linear = MultimodalClassificationTask(encoders=enc, num_classes=3, optimizer=torch.optim.Adam)
    assert linear.head is None and linear.classifier.in_features == 11
    with pytest.raises(ValueError, match=r"model\.head_hidden=0"):
        MultimodalClassificationTask(encoders=enc, num_classes=3, optimizer=torch.optim.Adam, head_hidden=0)


def test_modality_scaling_equalises_the_modalities_blocks():
    """modality_scaling: each modality's block gets unit norm (l2) or is divided by sqrt(width) (sqrt_dim),
    so a wide block (the 6400 flattened IMU features) no longer outweighs a narrow one."""
    torch.manual_seed(0)
    h = torch.cat([3 * torch.randn(5, 4), 0.1 * torch.randn(5, 100)], dim=1)
    out = scale_modalities(h, [4, 100], "l2")
    assert out.shape == h.shape
    assert torch.allclose(out[:, :4].norm(dim=1), torch.ones(5)) and torch.allclose(out[:, 4:].norm(dim=1), torch.ones(5))
    # direction within each block is kept
    assert torch.allclose(out[:, 4:] * h[:, 4:].norm(dim=1, keepdim=True), h[:, 4:], atol=1e-6)
    out = scale_modalities(h, [4, 100], "sqrt_dim")
    assert torch.allclose(out[:, :4], h[:, :4] / 2) and torch.allclose(out[:, 4:], h[:, 4:] / 10)
    assert scale_modalities(h, [4, 100], None) is h
    with pytest.raises(ValueError, match=r"add up to 103, features have 104"):
        scale_modalities(h, [4, 99], "l2")
    with pytest.raises(ValueError, match=r"model\.modality_scaling='max'"):
        scale_modalities(h, [4, 100], "max")

    # in the task: standardised features of a wide modality get the same norm as a narrow one
    enc = {"a": torch.nn.Linear(4, 6), "b": torch.nn.Linear(3, 600)}
    task = MultimodalClassificationTask(encoders=enc, num_classes=3, optimizer=torch.optim.Adam,
                                        modality_scaling="l2", plot_tsne=False)
    assert task.widths == [6, 600] and task.classifier.in_features == 606
    seen = {}
    task.classifier.register_forward_hook(lambda mod, inp, out: seen.update(h=inp[0]))
    batch = {"a": torch.randn(16, 4), "b": torch.randn(16, 3), "label": torch.zeros(16, dtype=torch.long)}
    assert task(batch).shape == (16, 3)
    norms = [seen["h"][:, :6].norm(dim=1), seen["h"][:, 6:].norm(dim=1)]
    assert torch.allclose(norms[0], torch.ones(16), atol=1e-5) and torch.allclose(norms[1], torch.ones(16), atol=1e-5)
    with pytest.raises(ValueError, match=r"model\.modality_scaling='l1'"):
        MultimodalClassificationTask(encoders=enc, num_classes=3, optimizer=torch.optim.Adam, modality_scaling="l1")


def test_modality_loss_adds_each_blocks_own_cross_entropy_in_training_only():
    """modality_loss_weight: the training loss adds lambda x CE(W_m h_m + b) per modality; the logits
    (sum of the blocks' terms) and the validation loss are those of the plain linear classifier."""
    torch.manual_seed(0)
    enc = {"a": torch.nn.Linear(4, 6), "b": torch.nn.Linear(3, 5)}
    task = MultimodalClassificationTask(encoders=enc, num_classes=3, optimizer=torch.optim.Adam,
                                        modality_loss_weight=0.5, plot_tsne=False)
    batch = {"a": torch.randn(8, 4), "b": torch.randn(8, 3), "label": torch.randint(0, 3, (8,))}
    task.eval()
    h = task.classifier_input(batch)
    per_modality = task.modality_logits(h)
    assert [z.shape for z in per_modality] == [(8, 3), (8, 3)]
    # the blocks' terms add up to the classifier's logits (plus one extra bias per extra modality)
    assert torch.allclose(sum(per_modality) - task.classifier.bias, task.classifier(h), atol=1e-6)
    assert torch.allclose(per_modality[0], h[:, :6] @ task.classifier.weight[:, :6].T + task.classifier.bias, atol=1e-6)
    fused = torch.nn.functional.cross_entropy(task.classifier(h), batch["label"])
    own = sum(torch.nn.functional.cross_entropy(z, batch["label"]) for z in per_modality)
    assert torch.allclose(task._step(batch, "train")[0], fused + 0.5 * own, atol=1e-6)
    assert torch.allclose(task._step(batch, "val")[0], fused, atol=1e-6)
    plain = MultimodalClassificationTask(encoders=enc, num_classes=3, optimizer=torch.optim.Adam, plot_tsne=False)
    plain.load_state_dict(task.state_dict())
    plain.eval()
    assert torch.allclose(plain._step(batch, "train")[0], fused, atol=1e-6)
    # one modality: its own term would only repeat the fused one
    single = MultimodalClassificationTask(encoders=enc, num_classes=3, optimizer=torch.optim.Adam, modalities=["a"],
                                          modality_loss_weight=0.5, plot_tsne=False).eval()
    assert torch.allclose(single._step(batch, "train")[0], single._step(batch, "val")[0])
    with pytest.raises(ValueError, match=r"model\.modality_loss_weight=-1"):
        MultimodalClassificationTask(encoders=enc, num_classes=3, optimizer=torch.optim.Adam, modality_loss_weight=-1)


def test_cmc_cmkm_encoders_pretrain_and_evaluate_with_mlp_head(tmp_path):
    """The har_cmkm encoder preset: projection heads sized from the flattened IMU features, then the
    frozen encoders + MLP head evaluation."""
    pre_dir, lin_dir = tmp_path / "pre", tmp_path / "lin"
    enc = ["model/encoders=har_cmkm", "model.plot_tsne=false", "seed=0", *LIMIT]
    cfg = compose_train(pre_dir, ["experiment=har_cmc", "trainer.max_epochs=1", *enc])
    _, objects = cli.train(cfg)
    assert objects["model"].projections["inertial"].in_features == 50 * 128
    assert objects["model"].projections["skeleton"].in_features == 256
    ckpt = pre_dir / "checkpoints" / "last.ckpt"
    cfg = compose_train(lin_dir, ["experiment=har_linear_eval", f"model.pretrained_ckpt={ckpt}", "model.head_hidden=256",
                                  "model.feature_norm=false", "model.modality_scaling=null", "trainer.max_epochs=1",
                                  *enc])
    metrics, objects = cli.train(cfg)
    assert {"test/acc", "test/f1"} <= set(metrics) and objects["model"].classifier.in_features == 512
