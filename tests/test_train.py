"""Training end to end: a fast_dev_run of every experiment, the Cora slice to a real bar, eval."""

from __future__ import annotations

import pytest
from omegaconf import open_dict

from tests.conftest import compose_eval, compose_train, experiments
from zoo import cli


#: Extra overrides for the default suite's fast_dev_run, where an experiment's one-off
#: preprocessing costs minutes on 2 CPU cores (the real path runs in the slow test below).
FAST_OVERRIDES = {
    # sentence-encoding 8,736 citing sentences + 3,069 titles: ~15 min on 2 cores, then cached
    "tangnn_citation_sentiment": ["data.encoder=hashing"],
    "logreg_citation_sentiment": ["data.encoder=hashing"],
    # sentence-encoding the 40,943 WN18RR glosses for LEMON: tens of minutes on 2 cores, then cached
    "lemon_wn18rr": ["data.encoder=hashing"],
}


@pytest.mark.parametrize("experiment", experiments())
def test_fast_dev_run(experiment, tmp_path):
    overrides = [f"experiment={experiment}", "debug=fdr", *FAST_OVERRIDES.get(experiment, [])]
    cfg = compose_train(tmp_path, overrides)
    metrics, _ = cli.train(cfg)
    assert any(k.startswith("test/") for k in metrics), metrics


@pytest.mark.slow
@pytest.mark.parametrize("experiment", sorted(FAST_OVERRIDES))
def test_fast_dev_run_full_preprocessing(experiment, tmp_path):
    """The experiments above with their real preprocessing (e.g. the sentence encoder)."""
    cfg = compose_train(tmp_path, [f"experiment={experiment}", "debug=fdr"])
    metrics, _ = cli.train(cfg)
    assert any(k.startswith("test/") for k in metrics), metrics


def test_cora_gcn_reaches_published_range(tmp_path):
    """GCN on the Cora public split: ~81.5% published; 60 epochs must clear 78%."""
    cfg = compose_train(tmp_path, ["experiment=gcn_cora", "seed=0"])
    with open_dict(cfg):
        cfg.trainer.max_epochs = 60
    metrics, objects = cli.train(cfg)
    assert metrics["test/acc"] >= 0.78, metrics
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert objects["trainer"].checkpoint_callback.best_model_path


def test_eval_reproduces_test_metrics(tmp_path):
    train_dir, eval_dir = tmp_path / "train", tmp_path / "eval"
    cfg = compose_train(train_dir, ["experiment=gcn_cora", "seed=1"])
    with open_dict(cfg):
        cfg.trainer.max_epochs = 20
    metrics, objects = cli.train(cfg)
    best = objects["trainer"].checkpoint_callback.best_model_path
    eval_cfg = compose_eval(eval_dir, [f"ckpt_path={best}"])
    eval_metrics, _ = cli.evaluate(eval_cfg)
    assert eval_metrics["test/acc"] == pytest.approx(metrics["test/acc"], abs=1e-6)
    assert (eval_dir / "eval_metrics.json").is_file()


def test_multirun_cli(tmp_path):
    """`train.py -m` sweeps (the sweep dir must resolve before any job starts)."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    out = subprocess.run(
        [sys.executable, "train.py", "-m", "experiment=gcn_cora", "debug=fdr", "seed=1,2", "logger=none",
         f"paths.log_dir={tmp_path}", "extras.print_config=false"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    jobs = sorted((tmp_path / "debug" / "multiruns").glob("*/*/metrics.json"))
    assert len(jobs) == 2
