"""Sweeps without SLURM: the Optuna searches in conf/hparams_search (basic launcher), the local
submitit launcher, and the summary table every sweep writes."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pytest
import yaml
from omegaconf import OmegaConf

from tests.conftest import ROOT, compose_train, options
from tests.mpt_helpers import mpt_teacher_overrides
from zoo.utils.sweep_summary import collect_sweep, format_table, lower_is_better


@dataclass(frozen=True)
class SearchCase:
    """An experiment a search in conf/hparams_search is meant for, and how to run it tiny."""

    experiment: str
    #: extra overrides that keep a 2-trial sweep cheap (on top of FAST)
    fast: tuple[str, ...] = ()
    #: builds files the trials need (e.g. teacher checkpoints) in a folder; returns extra overrides
    prepare: Optional[Callable[[Path], list[str]]] = None


LIMIT = ("+trainer.limit_train_batches=2", "+trainer.limit_val_batches=2", "+trainer.limit_test_batches=2")

#: each search in conf/hparams_search -> the experiment it is meant for (a new search adds a line)
HPARAMS_CASES = {
    "gnn_node_optuna": SearchCase("gcn_cora"),
    "tangnn_optuna": SearchCase("tangnn_cora", ("callbacks.embedding_tsne=null",)),
    "capsule_optuna": SearchCase("capsule_blitzer", LIMIT),
    "mpt_optuna": SearchCase("mpt_fmnist", (*LIMIT, "data.datamodule.train_subset=256", "data.datamodule.val_size=256",
                                            "data.datamodule.eval_batch_size=256"), prepare=mpt_teacher_overrides),
    "kge_optuna": SearchCase("rotate_umls", (*LIMIT, "trainer.check_val_every_n_epoch=1")),
    "har_optuna": SearchCase("har_utd_mhad", (*LIMIT, "model.plot_tsne=false")),
}

FAST = ["trainer.max_epochs=2", "trainer.accelerator=cpu", "callbacks.progress_bar=null",
        "extras.print_config=false", "logger=csv"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}


def test_every_search_has_a_case():
    assert sorted(HPARAMS_CASES) == options("hparams_search")


@pytest.mark.parametrize("search", options("hparams_search"))
def test_search_composes_with_its_experiment(search, tmp_path):
    experiment = HPARAMS_CASES[search].experiment
    cfg = compose_train(tmp_path, [f"experiment={experiment}", f"hparams_search={search}"], shrink=False)
    # compose_train drops cfg.hydra: compose again with it to read the sweeper
    from hydra import compose, initialize_config_dir

    from tests.conftest import CONF_DIR

    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        full = compose("train.yaml", overrides=[f"experiment={experiment}", f"hparams_search={search}"],
                       return_hydra_config=True)
    params = full.hydra.sweeper.params
    assert params, search
    for key in params:  # every searched key exists in the experiment's config
        assert OmegaConf.select(cfg, key, throw_on_missing=False) is not None or key in cfg, key
    assert cfg.optimized_metric is not None
    # the search optimises the experiment's metric, in the direction the summary table ranks by
    experiment_only = compose_train(tmp_path, [f"experiment={experiment}"], shrink=False)
    assert cfg.optimized_metric == experiment_only.optimized_metric
    assert lower_is_better(cfg.optimized_metric, str(full.hydra.sweeper.direction)) == lower_is_better(
        cfg.optimized_metric, None)


# gnn_node_optuna stays in the default suite; the other families' sweeps run with `make test-multiprocess`
SWEEP_PARAMS = [s if s == "gnn_node_optuna" else pytest.param(s, marks=pytest.mark.multiprocess)
                for s in options("hparams_search")]


@pytest.mark.parametrize("search", SWEEP_PARAMS)
def test_optuna_search_with_the_basic_launcher(search, tmp_path):
    """A 2-trial sweep of each search through the basic launcher: both trials run, Optuna's best
    value is the best trial's metric, and the summary table lists both."""
    case = HPARAMS_CASES[search]
    extra = case.prepare(tmp_path / "prepared") if case.prepare is not None else []
    sweep_dir = tmp_path / "sweep"
    out = subprocess.run(
        [sys.executable, "train.py", f"hparams_search={search}", f"experiment={case.experiment}", *FAST, *case.fast,
         *extra, "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=1", f"hydra.sweep.dir={sweep_dir}"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    best = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    metric = compose_train(tmp_path, [f"experiment={case.experiment}", f"hparams_search={search}"]).optimized_metric
    rows = list(csv.DictReader((sweep_dir / "summary.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "ok"], rows
    pick = min if lower_is_better(metric) else max  # the compose test checks the sweeper agrees
    assert best["best_value"] == pytest.approx(pick(float(r[metric]) for r in rows))
    table = (sweep_dir / "summary.md").read_text()
    assert "| job |" in table and metric in table
    # the parameter columns are searched keys (those whose sampled values differ between the trials)
    columns = [k for k in rows[0] if k not in ("job", metric, "status")]
    assert columns and set(columns) <= set(best["best_params"]), (columns, best["best_params"])


def test_local_launcher_runs_each_job_in_its_own_process(tmp_path):
    sweep_dir = tmp_path / "sweep"
    out = subprocess.run(
        [sys.executable, "train.py", "-m", "hydra/launcher=local", "experiment=gcn_cora", *FAST,
         "model.optimizer.lr=0.01,0.05", f"hydra.sweep.dir={sweep_dir}"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert len([p for p in (sweep_dir / ".submitit").iterdir() if p.name.isdigit()]) == 2
    rows = list(csv.DictReader((sweep_dir / "summary.csv").open()))
    assert [(r["model.optimizer.lr"], r["status"]) for r in rows] == [("0.01", "ok"), ("0.05", "ok")]


def _fake_job(sweep_dir, num, overrides, metrics):
    job = sweep_dir / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if metrics is not None:
        (job / "metrics.json").write_text(json.dumps(metrics))


def test_summary_lists_swept_params_metric_and_failed_jobs(tmp_path):
    for num, lr, value in ((0, "0.1", 0.7), (1, "0.01", 0.8), (2, "0.001", None)):
        metrics = None if value is None else {"val/acc_best": value, "test/acc": value - 0.1}
        _fake_job(tmp_path, num, ["experiment=gcn_cora", f"model.optimizer.lr={lr}"], metrics)
    _fake_job(tmp_path, 10, ["experiment=gcn_cora", "model.optimizer.lr=0.5"], {"val/acc_best": 0.1})
    keys, rows = collect_sweep(tmp_path, "val/acc_best")
    assert keys == ["model.optimizer.lr"]  # the constant override is not a column
    assert [r["job"] for r in rows] == ["0", "1", "2", "10"]  # numeric job order
    assert [r["status"] for r in rows] == ["ok", "ok", "missing", "ok"]
    table = format_table(keys, rows, "val/acc_best", best=1)
    assert "| 1 * | 0.01 | 0.8 | ok |" in table


@pytest.mark.parametrize("metric,direction,lower", [
    ("val/acc_best", None, False), ("val/loss", None, True), ("test/mae", None, True),
    ("val/mrr", None, False), ("val/acc", "minimize", True), ("val/loss", "Direction.maximize", False),
])
def test_lower_is_better(metric, direction, lower):
    assert lower_is_better(metric, direction) is lower


def test_seed_grouped_summary_gives_mean_and_std_per_configuration(tmp_path):
    from omegaconf import OmegaConf

    from zoo.utils.sweep_summary import SweepSummary

    values = {("gcn_cora", 0): 0.80, ("gcn_cora", 1): 0.82, ("gcn_cora", 2): 0.84,
              ("gat_cora", 0): 0.79, ("gat_cora", 1): 0.81, ("gat_cora", 2): None}
    for num, ((experiment, seed), value) in enumerate(values.items()):
        _fake_job(tmp_path, num, [f"experiment={experiment}", f"seed={seed}"],
                  None if value is None else {"val/acc_best": value})
    SweepSummary().on_multirun_end(OmegaConf.create({"optimized_metric": "val/acc_best",
                                                     "hydra": {"sweep": {"dir": str(tmp_path)}}}))
    rows = list(csv.DictReader((tmp_path / "summary_by_seed.csv").open()))
    assert [(r["experiment"], r["seeds"]) for r in rows] == [("gcn_cora", "3"), ("gat_cora", "2")]
    assert float(rows[0]["val/acc_best mean"]) == pytest.approx(0.82)
    assert float(rows[0]["val/acc_best std"]) == pytest.approx(0.02)
    assert float(rows[1]["val/acc_best mean"]) == pytest.approx(0.80)
    assert "| gcn_cora | 3 | 0.82 ± 0.02 |" in (tmp_path / "summary_by_seed.md").read_text()


@pytest.mark.slow
def test_seed_sweep_over_two_experiments_gives_one_row_per_experiment(tmp_path):
    sweep_dir = tmp_path / "sweep"
    out = subprocess.run(
        [sys.executable, "train.py", "-m", "experiment=gcn_cora,gat_cora", "seed=0,1,2", *FAST, "trainer.max_epochs=1",
         f"hydra.sweep.dir={sweep_dir}"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = list(csv.DictReader((sweep_dir / "summary_by_seed.csv").open()))
    assert [(r["experiment"], r["seeds"]) for r in rows] == [("gcn_cora", "3"), ("gat_cora", "3")]
    per_job = list(csv.DictReader((sweep_dir / "summary.csv").open()))
    for row in rows:
        values = [float(j["val/acc_best"]) for j in per_job if j["experiment"] == row["experiment"]]
        assert float(row["val/acc_best mean"]) == pytest.approx(sum(values) / 3)
    assert "Over seeds" in out.stdout


@pytest.mark.multiprocess
def test_killed_optuna_search_rerun_continues_to_n_trials(tmp_path):
    """SIGKILL a 3-trial search while its second trial trains; the same command again finishes the
    study: 3 complete trials in all, the killed one failed, and the summary lists all four."""
    import signal
    import time

    from zoo.utils.optuna_study import study_trials

    sweep_dir = tmp_path / "sweep"
    command = [sys.executable, "train.py", "hparams_search=gnn_node_optuna", "experiment=gcn_cora", *FAST,
               "hydra.sweeper.n_trials=3", "hydra.sweeper.n_jobs=1", f"hydra.sweep.dir={sweep_dir}"]
    proc = subprocess.Popen(command, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while not (sweep_dir / "1" / ".hydra").is_dir():
            assert proc.poll() is None, f"the search exited ({proc.returncode}) before its second trial"
            assert time.monotonic() < deadline, "the second trial did not start within 600 s"
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert (sweep_dir / "0" / "metrics.json").is_file() and not (sweep_dir / "1" / "metrics.json").is_file()
    assert study_trials(sweep_dir, "gnn_node_optuna") == {0: "COMPLETE", 1: "RUNNING"}

    out = subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "1 of 3 trials finished, 1 left running by an interrupted search marked failed; 2 to go" in out.stdout
    assert study_trials(sweep_dir, "gnn_node_optuna") == {0: "COMPLETE", 1: "FAIL", 2: "COMPLETE", 3: "COMPLETE"}
    rows = list(csv.DictReader((sweep_dir / "summary.csv").open()))
    assert [(r["job"], r["status"]) for r in rows] == [("0", "ok"), ("1", "failed"), ("2", "ok"), ("3", "ok")]
    best = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(max(float(r["val/acc_best"]) for r in rows if r["status"] == "ok"))


def test_searches_store_their_study_in_the_sweep_dir(tmp_path):
    from hydra import compose, initialize_config_dir

    from tests.conftest import CONF_DIR

    for search in options("hparams_search"):
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
            full = compose("train.yaml", overrides=[f"hparams_search={search}", f"paths.log_dir={tmp_path}"],
                           return_hydra_config=True)
        sweeper = full.hydra.sweeper
        assert sweeper._target_ == "hydra_plugins.zoo_optuna_sweeper.ZooOptunaSweeper"
        assert sweeper.study_name == search
        assert full.hydra.sweep.dir == f"{tmp_path}/{full.task_name}/searches/{search}"
        assert sweeper.storage == f"sqlite:///{tmp_path}/{full.task_name}/searches/{search}/optuna.db"
