"""Bad input stops at start-up with one clear message naming the key or path."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import open_dict

from tests.conftest import ROOT, SHARED_DATA, compose_eval, compose_train
from zoo import cli


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_unknown_override_key_names_it():
    out = _run("train.py", "trainer.max_epoch=3")
    assert out.returncode != 0
    assert "max_epoch" in out.stderr


def test_unknown_group_option_lists_choices():
    out = _run("train.py", "data=coraa")
    assert out.returncode != 0
    assert "coraa" in out.stderr and "cora" in out.stderr


def test_schema_rejects_wrong_type_and_unknown_key(tmp_path):
    with pytest.raises(ConfigCompositionException, match="seed=abc"):
        compose_train(tmp_path, ["seed=abc"])
    with pytest.raises(ConfigCompositionException, match="sed"):
        compose_train(tmp_path, ["sed=1"])
    # a typo in a YAML file (not only on the command line) fails against the schema too
    from omegaconf import OmegaConf
    from omegaconf.errors import ConfigKeyError

    from zoo.config import TrainConfig

    with pytest.raises(ConfigKeyError, match="sed"):
        OmegaConf.merge(OmegaConf.structured(TrainConfig), {"sed": 1})


def test_misspelt_key_inside_target_node_names_it(tmp_path):
    cfg = compose_train(tmp_path)
    with open_dict(cfg):
        cfg.model.net.hiden_channels = 8
    with pytest.raises(ValueError, match=r"model\.net\.hiden_channels"):
        cli.train(cfg)


def test_missing_data_root_names_path(tmp_path):
    cfg = compose_train(tmp_path, ["data.download=false", f"data.root={tmp_path}/nowhere"])
    with pytest.raises(FileNotFoundError, match="nowhere"):
        cli.train(cfg)


def _copy_cora(tmp_path):
    root = tmp_path / "planetoid"
    shutil.copytree(SHARED_DATA / "planetoid" / "Cora", root / "Cora")
    return root


def test_truncated_raw_file_names_it(tmp_path):
    root = _copy_cora(tmp_path)
    target = root / "Cora" / "raw" / "ind.cora.allx"
    target.write_bytes(target.read_bytes()[:1000])
    cfg = compose_train(tmp_path, [f"data.root={root}", f"data.cache_dir={tmp_path}/cache"])
    with pytest.raises(ValueError, match="ind.cora.allx"):
        cli.train(cfg)


def test_wrong_shape_raw_file_names_it(tmp_path):
    root = _copy_cora(tmp_path)
    raw = root / "Cora" / "raw"
    shutil.copy(raw / "ind.cora.ty", raw / "ind.cora.y")  # 1000 labels for 140 feature rows
    cfg = compose_train(tmp_path, [f"data.root={root}", f"data.cache_dir={tmp_path}/cache"])
    with pytest.raises(ValueError, match=r"ind\.cora\.y"):
        cli.train(cfg)


def test_missing_ckpt_path_names_it(tmp_path):
    cfg = compose_train(tmp_path, [f"ckpt_path={tmp_path}/missing.ckpt"])
    with pytest.raises(FileNotFoundError, match="missing.ckpt"):
        cli.train(cfg)
    cfg = compose_eval(tmp_path, [f"ckpt_path={tmp_path}/missing.ckpt"])
    with pytest.raises(FileNotFoundError, match="missing.ckpt"):
        cli.evaluate(cfg)


def test_eval_requires_ckpt_path():
    out = _run("eval.py")
    assert out.returncode != 0
    assert "ckpt_path" in out.stderr


def test_bad_split_value_lists_allowed(tmp_path):
    cfg = compose_train(tmp_path, ["data.split=half"])
    with pytest.raises(ValueError, match=r"data\.split='half'.*public"):
        cli.train(cfg)
