"""Link prediction end to end: a short UMLS run learns, and eval.py reproduces its test metrics."""

from __future__ import annotations

import pytest
from omegaconf import open_dict

from tests.conftest import compose_eval, compose_train
from zoo import cli


def test_umls_rotate_learns_and_eval_reproduces(tmp_path):
    cfg = compose_train(tmp_path / "train", ["experiment=rotate_umls", "seed=0", "trainer.check_val_every_n_epoch=3"])
    with open_dict(cfg):
        cfg.trainer.max_epochs = 6
    metrics, objects = cli.train(cfg)
    # a random ranking of 135 entities has MRR ~0.04; 6 epochs reach ~0.17
    assert metrics["test/mrr"] > 0.12, metrics
    assert 1 <= metrics["test/mr"] <= 135
    assert metrics["test/hits@1"] <= metrics["test/hits@3"] <= metrics["test/hits@10"]
    assert metrics["val/mrr_best"] >= metrics["val/mrr"] - 1e-6
    best = objects["trainer"].checkpoint_callback.best_model_path
    eval_metrics, _ = cli.evaluate(compose_eval(tmp_path / "eval", [f"ckpt_path={best}"]))
    assert eval_metrics["test/mrr"] == pytest.approx(metrics["test/mrr"], abs=1e-6)


def test_net_size_mismatch_is_reported(tmp_path):
    cfg = compose_train(tmp_path, ["experiment=transe_nations", "model.net.num_entities=5", "debug=fdr"])
    with pytest.raises(ValueError, match="datamodule:num_entities"):
        cli.train(cfg)
