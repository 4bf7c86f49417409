"""A checkpoint is data, never code: crafted checkpoints are refused by every entry point.

The crafted files are built from a real gcn_cora checkpoint of a one-epoch run: a pickle payload
(an object whose ``__reduce__`` writes a marker file) and stored-config payloads naming
``pathlib.Path.write_text``, ``builtins.open`` and ``torch.load`` of a second (pickled) file. Each
is given to ``eval.py ckpt_path=``, ``train.py ckpt_path=``, ``model.old_ckpt=``,
``model.reference_ckpt=``, ``eval.reference_ckpt=`` and ``model.pretrained_ckpt=``; every one must
stop with an error naming the key and the file, and the marker file must never appear.
"""

from __future__ import annotations

import copy
import pathlib
import pickle
import subprocess
import sys

import hydra
import pytest
import torch
from omegaconf import OmegaConf

from tests.conftest import ROOT, compose_eval, compose_train
from zoo import cli
from zoo.checkpoints import (
    CONFIG_KEY, CheckpointError, allowed_targets, check_targets, convert, load_checkpoint_config, read_checkpoint,
    to_plain,
)


class _WritesMarker:
    """Unpickling this object writes ``path`` (what an attacker's ``os.system`` would do)."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path

    def __reduce__(self):
        return pathlib.Path.write_text, (self.path, "pwned")


def _config_payloads(marker: pathlib.Path, second: pathlib.Path) -> dict[str, tuple[str, dict]]:
    """name -> (where in the stored config, the node): each would write ``marker`` when built."""
    return {
        "write_text": ("data", {"_target_": "pathlib.Path.write_text",
                                "_args_": [{"_target_": "pathlib.Path", "_args_": [str(marker)]}, "pwned"]}),
        "open": ("model.net", {"_target_": "builtins.open", "_args_": [str(marker), "w"]}),
        "torch_load": ("model.optimizer", {"_target_": "torch.load", "_partial_": True, "f": str(second),
                                           "weights_only": False}),
    }


@pytest.fixture(scope="module")
def real_ckpts(tmp_path_factory):
    """A one-epoch gcn_cora checkpoint and a small Fashion-MNIST old-class model (for model=mpt)."""
    root = tmp_path_factory.mktemp("real")
    cfg = compose_train(root / "gcn", ["experiment=gcn_cora", "seed=0"])
    _, objects = cli.train(cfg)
    gcn = objects["trainer"].checkpoint_callback.best_model_path
    cfg = compose_train(root / "old", ["experiment=mpt_fmnist_old", "seed=0", "+trainer.limit_train_batches=2",
                                       "+trainer.limit_val_batches=2", "+trainer.limit_test_batches=2"])
    _, objects = cli.train(cfg)
    return {"gcn": gcn, "old": objects["trainer"].checkpoint_callback.best_model_path}


def _craft(real: str, out_dir: pathlib.Path, payload: str) -> tuple[pathlib.Path, pathlib.Path]:
    """``(crafted checkpoint, marker path)`` for one payload."""
    out_dir.mkdir(parents=True, exist_ok=True)
    marker = out_dir / "marker.txt"
    checkpoint = torch.load(real, map_location="cpu", weights_only=True)
    crafted = out_dir / f"{payload}.ckpt"
    if payload == "pickle":
        checkpoint["payload"] = _WritesMarker(marker)
    else:
        second = out_dir / "second.pt"
        torch.save({"x": _WritesMarker(marker)}, second)
        where, node = _config_payloads(marker, second)[payload]
        config = OmegaConf.create(checkpoint[CONFIG_KEY])
        OmegaConf.update(config, where, node, merge=False, force_add=True)
        checkpoint[CONFIG_KEY] = OmegaConf.to_container(config)
    torch.save(checkpoint, crafted)
    return crafted, marker


PAYLOADS = ["pickle", "write_text", "open", "torch_load"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_crafted_payloads_are_live(payload, real_ckpts, tmp_path):
    """The payloads do write the marker when handled the unsafe way (so the refusals below mean something)."""
    crafted, marker = _craft(real_ckpts["gcn"], tmp_path, payload)
    if payload == "pickle":
        torch.load(crafted, map_location="cpu", weights_only=False)
    else:
        where, node = _config_payloads(marker, tmp_path / "second.pt")[payload]
        node = {k: v for k, v in node.items() if k != "_partial_"}
        hydra.utils.instantiate(OmegaConf.create(node))
    assert marker.is_file()


def _entry_point(entry: str, crafted: pathlib.Path, real: dict, tmp_path: pathlib.Path):
    if entry == "eval.ckpt_path":
        return lambda: cli.evaluate(compose_eval(tmp_path / "run", [f"ckpt_path={crafted}"]))
    if entry == "eval.reference_ckpt":
        return lambda: cli.evaluate(compose_eval(tmp_path / "run", [f"ckpt_path={real['gcn']}",
                                                                     f"eval.reference_ckpt={crafted}"]))
    if entry == "train.ckpt_path":
        return lambda: cli.train(compose_train(tmp_path / "run", ["experiment=gcn_cora", f"ckpt_path={crafted}"]))
    if entry == "model.old_ckpt":
        return lambda: cli.train(compose_train(tmp_path / "run", [
            "experiment=mpt_fmnist", "model=mpt", f"model.old_ckpt={crafted}", "model.loss.reference_weight=0"]))
    if entry == "model.reference_ckpt":
        return lambda: cli.train(compose_train(tmp_path / "run", [
            "experiment=mpt_fmnist", "model=mpt", f"model.old_ckpt={real['old']}", f"model.reference_ckpt={crafted}"]))
    if entry == "model.pretrained_ckpt":
        return lambda: cli.train(compose_train(tmp_path / "run", [
            "experiment=har_finetune", f"model.pretrained_ckpt={crafted}"]))
    raise AssertionError(entry)


ENTRY_POINTS = ["eval.ckpt_path", "eval.reference_ckpt", "train.ckpt_path", "model.old_ckpt",
                "model.reference_ckpt", "model.pretrained_ckpt"]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("payload", PAYLOADS)
def test_crafted_checkpoint_refused(entry, payload, real_ckpts, tmp_path):
    crafted, marker = _craft(real_ckpts["gcn"], tmp_path / "crafted", payload)
    run = _entry_point(entry, crafted, real_ckpts, tmp_path)
    with pytest.raises(CheckpointError) as info:
        run()
    message = str(info.value)
    assert str(crafted) in message, message
    if payload == "pickle":
        assert "weights_only=True" in message and "python -m zoo.checkpoints convert" in message, message
    else:
        where = _config_payloads(marker, tmp_path)[payload][0]
        assert f"{where}._target_" in message and "not an allowed target" in message, message
    assert not marker.exists(), f"{entry} with the {payload} payload created {marker}"


def test_every_family_checkpoint_loads_as_data(real_ckpts):
    """Config and hyper-parameters are plain containers: torch's default safe loader reads them."""
    for path in real_ckpts.values():
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        assert isinstance(checkpoint[CONFIG_KEY], dict)
        assert isinstance(checkpoint["hyper_parameters"], dict)


def test_kge_hparams_saved_as_plain_containers(tmp_path):
    """KGE's ``hits_at`` used to be pickled as an omegaconf ListConfig."""
    cfg = compose_train(tmp_path, ["experiment=transe_nations", "+trainer.limit_train_batches=2",
                                   "+trainer.limit_val_batches=2", "+trainer.limit_test_batches=2"])
    cli.train(cfg)
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert type(checkpoint["hyper_parameters"]["hits_at"]) in (list, tuple)


def test_old_pickled_checkpoint_names_the_conversion(real_ckpts, tmp_path):
    """A checkpoint as today's main wrote it (omegaconf objects pickled) fails clearly, then converts once."""
    checkpoint = torch.load(real_ckpts["gcn"], map_location="cpu", weights_only=True)
    checkpoint["hyper_parameters"]["hits_at"] = OmegaConf.create([1, 3, 10])
    old, new = tmp_path / "old.ckpt", tmp_path / "new.ckpt"
    torch.save(checkpoint, old)
    with pytest.raises(CheckpointError, match="python -m zoo.checkpoints convert") as info:
        read_checkpoint(old)
    assert str(old) in str(info.value) and "ListConfig" in str(info.value)
    with pytest.raises(ValueError, match="--trust-pickle"):
        convert(str(old), str(new))
    out = subprocess.run([sys.executable, "-m", "zoo.checkpoints", "convert", str(old), str(new), "--trust-pickle"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert read_checkpoint(new)["hyper_parameters"]["hits_at"] == [1, 3, 10]
    metrics, _ = cli.evaluate(compose_eval(tmp_path / "eval", [f"ckpt_path={new}"]))
    assert "test/acc" in metrics


def test_allowlist_from_conf_tree():
    allowed = allowed_targets()
    assert "torch.optim.Adam" in allowed and "lightning.pytorch.callbacks.ModelCheckpoint" in allowed
    assert not any(t.startswith(("builtins.", "pathlib.", "os.")) for t in allowed)


@pytest.mark.parametrize("config, path", [
    ({"model": {"net": {"_target_": "zoo.cli.torch.load"}}}, "model.net._target_"),  # a re-export, not a zoo class
    ({"data": {"_target_": "${oc.env:TARGET}"}}, "data._target_"),
    ({"model": {"_target_": "zoo.tasks.classification.ClassificationTask",
                "net": {"_target_": "zoo.nets.small_cnn.SmallCNN", "_args_": [{"_target_": "shutil.copyfile"}]}}},
     "model.net._args_[0]._target_"),
    ({"model": {"callbacks": [{"_target_": "numpy.load", "allow_pickle": True}]}}, "model.callbacks[0]._target_"),
])
def test_disallowed_targets_name_key_path(config, path):
    with pytest.raises(CheckpointError, match=path.replace("[", r"\[").replace("]", r"\]")):
        check_targets(config, "ckpt")


def test_zoo_classes_and_conf_targets_pass(real_ckpts):
    check_targets(load_checkpoint_config(real_ckpts["gcn"]), "ckpt")
    check_targets({"model": {"optimizer": {"_target_": "torch.optim.SGD", "_partial_": True},
                             "net": {"_target_": "zoo.nets.small_cnn.SmallCNN"}}}, "ckpt")


def test_to_plain_refuses_objects():
    assert to_plain({"a": OmegaConf.create({"b": [1, 2]}), "p": pathlib.Path("/x")}) == {"a": {"b": [1, 2]}, "p": "/x"}
    with pytest.raises(CheckpointError, match=r"hyper_parameters\.f"):
        to_plain({"f": copy.copy}, "hyper_parameters")


def test_pickled_state_never_runs_with_module_loaders(real_ckpts, tmp_path):
    """The pickle payload is also refused by the Python API (zoo.load)."""
    import zoo

    crafted, marker = _craft(real_ckpts["gcn"], tmp_path, "pickle")
    with pytest.raises(CheckpointError, match=str(crafted)):
        zoo.load(str(crafted))
    assert not marker.exists()
    assert pickle.dumps(1)  # pickle itself stays available to the rest of the process


def test_trusted_targets_come_from_the_reader_only(monkeypatch):
    """A class outside the allowlist is refused unless the reader names it in $ZOO_TRUSTED_TARGETS."""
    from zoo.checkpoint_targets import CheckpointError, check_targets

    config = {"callbacks": {"mine": {"_target_": "my_lab.callbacks.Probe"}}}
    monkeypatch.delenv("ZOO_TRUSTED_TARGETS", raising=False)
    with pytest.raises(CheckpointError, match=r"callbacks\.mine\._target_='my_lab\.callbacks\.Probe'"):
        check_targets(config, "ckpt_path='x.ckpt'")
    monkeypatch.setenv("ZOO_TRUSTED_TARGETS", "other.Thing, my_lab.callbacks.Probe")
    check_targets(config, "ckpt_path='x.ckpt'")
    with pytest.raises(CheckpointError, match="pathlib.Path.write_text"):
        check_targets({"data": {"_target_": "pathlib.Path.write_text"}}, "ckpt_path='x.ckpt'")
