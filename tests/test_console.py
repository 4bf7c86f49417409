"""zoo-train / zoo-eval (zoo.console) and the wheel that ships them with the config tree."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT
from zoo.console import config_dir


def test_config_dir_is_the_checkout_tree():
    assert config_dir() == ROOT / "conf"


def test_train_main_composes_from_another_directory(tmp_path):
    """The entry point finds its configs wherever it is started (here: an empty temp dir)."""
    code = "import sys; from zoo.console import train_main; sys.argv[0] = 'zoo-train'; train_main()"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "ZOO_DATA_DIR": str(tmp_path / "data")}
    out = subprocess.run([sys.executable, "-c", code, "--cfg", "job", "experiment=gat_cora"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "zoo.nets.gnn_baselines.GAT" in out.stdout


def test_wheel_ships_the_config_tree_and_entry_points(tmp_path):
    pytest.importorskip("build")
    out = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), "."],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    (wheel,) = tmp_path.glob("lightning_hydra_zoo-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"zoo/conf/{p.relative_to(ROOT / 'conf').as_posix()}" for p in (ROOT / "conf").rglob("*.yaml")
                if p.relative_to(ROOT / "conf").parts[0] != "local"}
    assert expected and expected <= names, sorted(expected - names)[:5]
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "zoo-train = zoo.console:train_main" in text and "zoo-eval = zoo.console:eval_main" in text
