"""tangnn_planetoid: the authors' TANGNN defaults, trained on a Cora resplit outside the public test nodes."""

from __future__ import annotations

from omegaconf import open_dict

from tests.conftest import compose_train
from zoo import cli


def test_preset_is_the_authors_defaults(tmp_path):
    cfg = compose_train(tmp_path, ["experiment=tangnn_planetoid"], shrink=False)
    net = cfg.model.net
    assert (net.hidden_channels, net.num_layers, net.top_m, net.heads, net.sample_size) == (32, 2, 30, 1, 5)
    assert (net.dropout, net.lc, net.combine, net.root_weight) == (0.3, True, "concat", True)
    assert (cfg.model.optimizer.lr, cfg.model.optimizer.weight_decay, cfg.trainer.max_epochs) == (0.005, 1e-4, 100)


def test_learns_on_a_cora_resplit_at_5_labels_per_class(tmp_path):
    cfg = compose_train(tmp_path, ["experiment=tangnn_planetoid", "seed=300", "data.split=random",
                                   "data.exclude_public_test=true", "data.num_train_per_class=5", "data.seed=300"])
    with open_dict(cfg):
        cfg.trainer.max_epochs = 40
    metrics, objects = cli.train(cfg)
    data = objects["datamodule"].data
    assert int(data.train_mask.sum()) == 35 and not (data.train_mask | data.val_mask)[data.test_mask].any()
    # 7 classes: chance is ~0.14-0.30; 35 labels and 40 epochs must clear 0.5 on the validation nodes
    assert metrics["val/acc_best"] >= 0.5, metrics
