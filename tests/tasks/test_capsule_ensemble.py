"""CapsuleEnsembleTask end to end on a tiny three-domain CSV corpus: metrics, plots, eval rebuild."""

from __future__ import annotations

import pytest
import torch
from omegaconf import open_dict

from tests.conftest import compose_eval, compose_train
from tests.data.test_multidomain_text import ROWS, _write_csv
from zoo import cli


def _cfg(tmp_path, extra=()):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = _write_csv(tmp_path / "corpus.csv", ROWS)
    cfg = compose_train(tmp_path / "run", [
        "experiment=capsule_blitzer", "data=multidomain_csv", f"data.path={path}", "data.vocab_size=120",
        "data.batch_size=16", "seed=0", *extra,
    ])
    with open_dict(cfg):
        cfg.trainer.max_epochs = 3
        cfg.paths.cache_dir = str(tmp_path / "cache")
    return cfg


def test_ensemble_trains_logs_metrics_plots_and_rebuilds_from_checkpoint(tmp_path):
    metrics, objects = cli.train(_cfg(tmp_path, ["model.objective.class_weights=inverse"]))
    for key in ("train/loss", "val/polarity_acc", "val/polarity_acc_best", "val/domain_acc",
                "test/polarity_acc", "test/polarity_f1", "test/domain_acc",
                "test/polarity_acc_food", "test/polarity_acc_movies", "test/polarity_acc_phones"):
        assert key in metrics, (key, sorted(metrics))
    model = objects["model"]
    assert len(model.nets) == 3 and bool(model.dbd.fitted) and bool(model.use_class_weight)
    # nets are independent copies, re-initialised
    assert not torch.equal(model.nets[0].weight, model.nets[1].weight)
    run_dir = tmp_path / "run"
    assert (run_dir / "confusion_polarity.png").is_file() and (run_dir / "confusion_domain.png").is_file()
    assert (run_dir / "splits.tsv").is_file()
    best = objects["trainer"].checkpoint_callback.best_model_path
    eval_metrics, _ = cli.evaluate(compose_eval(tmp_path / "eval", [f"ckpt_path={best}"]))
    for key in ("test/polarity_acc", "test/domain_acc"):
        assert eval_metrics[key] == pytest.approx(metrics[key], abs=1e-6)


def test_mixing_weights_dbd_uniform_pooled(tmp_path):
    cfg = _cfg(tmp_path, ["debug=fdr"])
    _, objects = cli.train(cfg)
    model, dm = objects["model"].eval(), objects["datamodule"]
    ids = next(iter(dm.test_dataloader()))["input_ids"]
    degrees, weights = model.mixing_weights(ids)
    torch.testing.assert_close(weights, degrees)
    torch.testing.assert_close(degrees.sum(dim=1), torch.ones(ids.size(0)))
    with torch.no_grad():
        probs, _ = model(ids)
        per_net = torch.stack([n(ids) / n(ids).sum(dim=1, keepdim=True) for n in model.nets], dim=1)
        torch.testing.assert_close(probs, (degrees.unsqueeze(-1) * per_net).sum(dim=1), rtol=1e-4, atol=1e-5)
        model.weighting = "uniform"
        torch.testing.assert_close(model(ids)[0], per_net.mean(dim=1), rtol=1e-4, atol=1e-5)
    pooled_cfg = _cfg(tmp_path / "pooled", ["debug=fdr", "model.per_domain=false"])
    metrics, objects = cli.train(pooled_cfg)
    assert len(objects["model"].nets) == 1 and "test/domain_acc" in metrics


def test_bad_weighting_names_choices(tmp_path):
    with pytest.raises(ValueError, match=r"model.weighting='softmax'.*dbd"):
        cli.train(_cfg(tmp_path, ["model.weighting=softmax"]))
