"""Load, predict and export, one experiment per family: export -> zoo.load -> evaluate gives the
checkpoint's metrics, and ``eval.split=predict`` writes one row per test item."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from lightning.pytorch import Trainer

import zoo
from tests.conftest import ROOT, compose_eval, compose_train
from zoo import cli

FEW = ["+trainer.limit_train_batches=2", "+trainer.limit_val_batches=2", "+trainer.limit_test_batches=2"]
#: the same test batches for every evaluation of a checkpoint (predictions cover the whole test split)
EVAL_FEW = ["+trainer.limit_test_batches=2"]

#: family -> (train overrides, columns every prediction row has)
FAMILIES = {
    "nodes": (["experiment=gcn_cora"], ["row", "id", "class", "probability", "label"]),
    "kge": (["experiment=transe_nations"], ["row", "head", "relation", "tail", "tails_1", "tails_3", "scores_1"]),
    "capsules": (["experiment=capsule_blitzer"], ["row", "polarity", "domain", "dbd_1", "dbd_4", "label"]),
    "har": (["experiment=har_supervised", "model.plot_tsne=false"], ["row", "recording", "subject", "class", "label"]),
    "mpt": (["experiment=mpt_fmnist", "model=mpt", "model.loss.reference_weight=0"],
            ["row", "class", "label", "old_class", "reference_correct"]),
}


def _train(tmp_path: Path, overrides: list[str]) -> tuple[dict, str]:
    metrics, objects = cli.train(compose_train(tmp_path, [*overrides, "seed=0", *FEW]))
    # KGE validates every few epochs: a one-epoch run has no best checkpoint, only last.ckpt
    best = objects["trainer"].checkpoint_callback.best_model_path or str(tmp_path / "checkpoints" / "last.ckpt")
    assert Path(best).is_file(), best
    return metrics, best


def _test_items(datamodule) -> int:
    datamodule.setup("test")
    loader = datamodule.test_dataloader()
    first = next(iter(loader))
    if hasattr(first, "test_mask"):  # one full graph: the test nodes
        return sum(int(batch.test_mask.sum()) for batch in loader)
    return len(loader.dataset)


def _tests(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k.startswith("test/")}


@pytest.fixture(scope="module")
def old_fmnist(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("old"), ["experiment=mpt_fmnist_old"])[1]


#: a few minutes each on 2 busy cores (text vocabulary, UTD-MHAD reading per rebuild): run with -m slow
SLOW_FAMILIES = {"capsules", "har"}


@pytest.mark.parametrize("family", [pytest.param(f, marks=pytest.mark.slow) if f in SLOW_FAMILIES else f
                                    for f in sorted(FAMILIES)])
def test_export_load_predict(family, tmp_path, request):
    overrides, columns = FAMILIES[family]
    if family == "mpt":
        overrides = [*overrides, f"model.old_ckpt={request.getfixturevalue('old_fmnist')}"]
    train_metrics, best = _train(tmp_path / "train", overrides)
    bundle = tmp_path / "bundle"

    # eval.py ckpt_path=CKPT eval.export=DIR: the checkpoint's test metrics, and a bundle
    ckpt_metrics, _ = cli.evaluate(compose_eval(tmp_path / "eval", [f"ckpt_path={best}", f"eval.export={bundle}",
                                                                   *EVAL_FEW]))
    assert _tests(ckpt_metrics) and _tests(ckpt_metrics) == pytest.approx(_tests(train_metrics), abs=1e-6)
    assert {p.name for p in bundle.iterdir()} >= {"model.safetensors", "config.json", "config.yaml", "README.md"}

    # the bundle evaluates to the same metrics through eval.py and through zoo.load
    bundle_metrics, _ = cli.evaluate(compose_eval(tmp_path / "eval_bundle", [f"ckpt_path={bundle}", *EVAL_FEW]))
    assert _tests(bundle_metrics) == pytest.approx(_tests(ckpt_metrics), abs=1e-6)
    loaded = zoo.load(str(bundle))
    assert not loaded.task.training and "_target_" in loaded.config.data
    trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, limit_test_batches=2)
    loaded_metrics = {k: float(v) for k, v in trainer.test(loaded.task, datamodule=loaded.datamodule)[0].items()}
    assert _tests(loaded_metrics) == pytest.approx(_tests(ckpt_metrics), abs=1e-6)

    # the model card: front matter with the run's metrics, version, commit, command, data licence
    card = (bundle / "README.md").read_text()
    front = card.split("---")[1]
    for name, value in _tests(ckpt_metrics).items():
        assert f'type: "{name}"' in front and f"value: {round(value, 6)!r}" in front
    assert "license_data:" in front and "unknown" not in front.split("license_data:")[1].splitlines()[0]
    assert zoo.__version__ in card and "git commit" in card and "python train.py" in card

    # predictions: one row per test item
    _, objects = cli.evaluate(compose_eval(tmp_path / "pred", [f"ckpt_path={bundle}", "eval.split=predict",
                                                               "eval.top_k=3"]))
    with open(tmp_path / "pred" / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == _test_items(objects["datamodule"]) > 0
    assert set(columns) <= set(rows[0]), rows[0].keys()
    assert [int(r["row"]) for r in rows] == list(range(len(rows)))
    if family == "kge":
        assert "tails_4" not in rows[0]
        assert all(float(r["scores_1"]) >= float(r["scores_3"]) for r in rows)
    if family == "nodes":
        assert all(0.0 < float(r["probability"]) <= 1.0 for r in rows)


def test_zoo_load_checkpoint_matches_eval(tmp_path):
    metrics, best = _train(tmp_path / "train", ["experiment=gcn_cora"])
    loaded = zoo.load(best)
    assert loaded.path == best and loaded.config.task_name == "gcn_cora"
    trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                      enable_model_summary=False)
    out = trainer.test(loaded.task, datamodule=loaded.datamodule)[0]
    assert float(out["test/acc"]) == pytest.approx(metrics["test/acc"], abs=1e-6)


def test_eval_overrides_are_typed_and_need_no_plus(tmp_path):
    """``data.normalize_features=false`` arrives as a bool; ``model.net.p_norm=2`` needs no ``+`` on RotatE."""
    _, gcn = _train(tmp_path / "gcn", ["experiment=gcn_cora"])
    _, objects = cli.evaluate(compose_eval(tmp_path / "e1", [f"ckpt_path={gcn}"]),
                              overrides=["data.normalize_features=false"])
    assert objects["datamodule"].normalize_features is False
    _, rotate = _train(tmp_path / "rotate", ["experiment=rotate_umls"])
    _, objects = cli.evaluate(compose_eval(tmp_path / "e2", [f"ckpt_path={rotate}"]), overrides=["model.net.p_norm=2"])
    assert objects["model"].net.p_norm == 2 and type(objects["cfg"].model.net.p_norm) is int
    with pytest.raises(ValueError, match="p_norm"):
        cli.evaluate(compose_eval(tmp_path / "e3", [f"ckpt_path={rotate}"]), overrides=["model.net.p_norm=3"])
    with pytest.raises(ValueError, match="sweeps"):
        cli.evaluate(compose_eval(tmp_path / "e4", [f"ckpt_path={rotate}"]), overrides=["model.net.p_norm=1,2"])

    # eval.py itself: the overrides bypass eval.yaml's placeholder model (gnn_node has no p_norm)
    out = subprocess.run(
        [sys.executable, "eval.py", f"ckpt_path={rotate}", "model.net.p_norm=2", "data.batch_size=64",
         f"eval.export={tmp_path / 'bundle'}", f"paths.log_dir={tmp_path / 'logs'}", "extras.print_config=false",
         "trainer.accelerator=cpu", "logger=none"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    config = json.loads((tmp_path / "bundle" / "config.json").read_text())["zoo_config"]
    assert config["model"]["net"]["p_norm"] == 2 and config["data"]["batch_size"] == 64


def test_group_override_replaces_node(tmp_path):
    _, gcn = _train(tmp_path / "gcn", ["experiment=gcn_cora"])
    # a different architecture cannot take the checkpoint's weights: the error says so
    with pytest.raises(ValueError, match="do not fit"):
        cli.evaluate(compose_eval(tmp_path / "e", [f"ckpt_path={gcn}"]), overrides=["model/net=gat"])
    with pytest.raises(ValueError, match="no such option"):
        cli.evaluate(compose_eval(tmp_path / "e2", [f"ckpt_path={gcn}"]), overrides=["model/net=nope"])


def test_predictions_with_eval_reference_ckpt(tmp_path, old_fmnist):
    """MPT's 'did the reference get it right' from eval.reference_ckpt (a plain classifier run)."""
    _, new = _train(tmp_path / "new", ["experiment=mpt_fmnist"])
    _, objects = cli.evaluate(compose_eval(tmp_path / "pred", [f"ckpt_path={new}", "eval.split=predict",
                                                               f"eval.reference_ckpt={old_fmnist}"]))
    rows = objects["predictions"]
    assert rows and {"reference_class", "reference_correct"} <= set(rows[0])
    assert all(r["reference_correct"] == (r["reference_class"] == r["label"]) for r in rows)
    assert all(r["reference_class"] < 5 for r in rows)  # the old model knows 5 classes


def test_bundle_without_weights_is_refused(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        zoo.load(str(tmp_path))
