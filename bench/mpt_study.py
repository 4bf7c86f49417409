"""The model-update study in one command: old -> reference -> no-treatment, PCT, MPT, per seed.

Each stage is a normal ``train.py`` run (a subprocess; ``--in-process`` calls ``zoo.cli.train``
on the same composed config instead) whose best checkpoint feeds the next stages:

  1. old        ``experiment=<exp>_old``                        (first K classes)
  2. reference  ``experiment=<exp> seed=<s+100>``               (all classes, independent)
  3. no-treatment / PCT / MPT  ``experiment=<exp> model=<method> model.old_ckpt=... [model.reference_ckpt=...]``

It writes test accuracy, old-class accuracy, NFR and RNFR (in %) per method and seed to
``bench/results/<exp>.csv`` (``--out FILE`` writes the markdown table there instead) and checks the bar: MPT's NFR at least 30% below
no-treatment's with overall accuracy within 1.5 points, PCT's NFR between the two.

    nice -n 10 python bench/mpt_study.py --experiment mpt_fmnist --seeds 0 1 2
    python bench/mpt_study.py --experiment mpt_cifar10 --seeds 0 1 2 --threads 0   # GPU machine
    python bench/mpt_study.py --experiment mpt_fmnist --seeds 0 --fast-dev-run     # tiny smoke run
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("no-treatment", "PCT", "MPT")
MODEL_OPTION = {"no-treatment": "no_treatment", "PCT": "pct", "MPT": "mpt"}
COLUMNS = (("test/acc", "acc"), ("test/old_acc", "old_acc"), ("test/nfr", "NFR"), ("test/rnfr", "RNFR"))
REFERENCE_SEED_OFFSET = 100
FAST_DEV_RUN = [
    "trainer.max_epochs=1", "++trainer.limit_train_batches=2", "++trainer.limit_val_batches=1",
    "++trainer.limit_test_batches=2", "data.datamodule.train_subset=512", "data.datamodule.num_workers=0",
]
COMMON = ["logger=none", "callbacks.progress_bar=null", "extras.print_config=false"]


def best_checkpoint(run_dir: Path) -> str:
    """The best checkpoint a stage wrote (``epoch_*.ckpt``), else its ``last.ckpt``."""
    best = sorted(glob.glob(str(run_dir / "checkpoints" / "epoch_*.ckpt")))
    if best:
        return best[-1]
    last = run_dir / "checkpoints" / "last.ckpt"
    if last.is_file():
        return str(last)
    raise FileNotFoundError(f"stage in {run_dir} wrote no checkpoint (checkpoints/epoch_*.ckpt or last.ckpt)")


def run_subprocess(overrides: list[str], run_dir: Path, threads: int) -> dict:
    env = dict(os.environ)
    if threads > 0:
        env["OMP_NUM_THREADS"] = str(threads)
        env["MKL_NUM_THREADS"] = str(threads)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "train.py", *overrides, f"hydra.run.dir={run_dir}"]
    print("$ " + " ".join(cmd), flush=True)
    log_file = run_dir.parent / f"{run_dir.name}.log"
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "w") as log:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = log_file.read_text()[-3000:]
        raise RuntimeError(f"stage failed (exit {proc.returncode}), log {log_file}:\n{tail}")
    return json.loads((run_dir / "metrics.json").read_text())


def run_in_process(overrides: list[str], run_dir: Path, threads: int) -> dict:
    import torch
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from zoo import cli

    previous_threads = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    print("in-process: train.py " + " ".join(overrides), flush=True)
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = compose(config_name="train.yaml", overrides=overrides, return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.root_dir = str(ROOT)
        cfg.paths.output_dir = str(run_dir)
        cfg.paths.log_dir = str(run_dir / "logs")
        cfg.paths.work_dir = str(ROOT)
        cfg.trainer.enable_progress_bar = False
        cfg.trainer.enable_model_summary = False
        del cfg.hydra
    try:
        metrics, _ = cli.train(cfg)
    finally:
        GlobalHydra.instance().clear()
        torch.set_num_threads(previous_threads)
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}


def run_study(
    experiment: str,
    seeds: list[int],
    runs_dir: Path,
    extra: list[str],
    runner: Callable[[list[str], Path, int], dict],
    threads: int,
    resume: bool = False,
    method_overrides: Optional[dict[str, list[str]]] = None,
) -> dict[str, list[dict]]:
    """Every stage for every seed; returns ``{stage: [metrics per seed]}``.

    With ``resume``, a stage whose run directory already holds ``metrics.json`` and a checkpoint is
    read back instead of rerun (so seeds can be added to a finished study).
    """
    if resume:
        inner = runner

        def runner(overrides: list[str], run_dir: Path, threads: int) -> dict:  # noqa: F811
            done = run_dir / "metrics.json"
            if done.is_file() and glob.glob(str(run_dir / "checkpoints" / "*.ckpt")):
                print(f"reusing {run_dir}", flush=True)
                return json.loads(done.read_text())
            return inner(overrides, run_dir, threads)

    results: dict[str, list[dict]] = {"old": [], "reference": [], **{m: [] for m in METHODS}}
    for seed in seeds:
        base = runs_dir / f"seed{seed}"
        start = time.time()
        old = runner([f"experiment={experiment}_old", f"seed={seed}", *COMMON, *extra], base / "old", threads)
        old_ckpt = best_checkpoint(base / "old")
        ref = runner([f"experiment={experiment}", f"seed={seed + REFERENCE_SEED_OFFSET}", *COMMON, *extra],
                     base / "reference", threads)
        ref_ckpt = best_checkpoint(base / "reference")
        results["old"].append(old)
        results["reference"].append(ref)
        for method in METHODS:
            overrides = [f"experiment={experiment}", f"model={MODEL_OPTION[method]}", f"seed={seed}",
                         f"model.old_ckpt={old_ckpt}"]
            if method == "MPT":
                overrides.append(f"model.reference_ckpt={ref_ckpt}")
            overrides += (method_overrides or {}).get(method, [])
            results[method].append(runner(overrides + COMMON + extra, base / MODEL_OPTION[method], threads))
        print(f"seed {seed}: {time.time() - start:.0f} s", flush=True)
    return results


def _mean_std(values: list[float]) -> str:
    values = [100.0 * v for v in values]
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def check_bar(results: dict[str, list[dict]]) -> tuple[bool, str]:
    """MPT NFR <= 0.7 x no-treatment NFR, |acc difference| <= 1.5 points, PCT NFR in between."""
    mean = {m: {k: statistics.mean(r[k] for r in results[m]) for k, _ in COLUMNS} for m in METHODS}
    none, pct, mpt = mean["no-treatment"], mean["PCT"], mean["MPT"]
    reduction = 1.0 - mpt["test/nfr"] / none["test/nfr"] if none["test/nfr"] > 0 else float("nan")
    acc_gap = 100.0 * (none["test/acc"] - mpt["test/acc"])
    between = mpt["test/nfr"] <= pct["test/nfr"] <= none["test/nfr"]
    ok = reduction >= 0.30 and abs(acc_gap) <= 1.5 and between
    text = (f"MPT NFR {reduction:.0%} below no-treatment (bar >= 30%); accuracy gap {acc_gap:+.2f} points "
            f"(bar within 1.5); PCT NFR between: {between}. **Bar {'met' if ok else 'NOT met'}.**")
    return ok, text


def write_table(results: dict[str, list[dict]], path: Path, command: str, seeds: list[int], note: str) -> str:
    lines = [f"# Model update study: `{command}`", "", note, "",
             f"Test metrics in %, mean ± std over seeds {seeds}.", "",
             "| method | acc | old_acc | NFR | RNFR |", "| --- | --- | --- | --- | --- |"]
    for method in METHODS:
        cells = [_mean_std([r[k] for r in results[method]]) for k, _ in COLUMNS]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    old_acc = _mean_std([r["test/acc"] for r in results["old"]])
    ref_acc = _mean_std([r["test/acc"] for r in results["reference"]])
    lines += ["", f"Old model (old classes only) test accuracy: {old_acc}; reference model test accuracy: {ref_acc}."]
    if all(len(results[m]) for m in METHODS) and all(r.get("test/nfr") is not None for m in METHODS for r in results[m]):
        lines += ["", check_bar(results)[1]]
    lines += ["", "Per seed (acc / old_acc / NFR / RNFR, %):", ""]
    for method in METHODS:
        for seed, r in zip(seeds, results[method]):
            lines.append(f"- {method}, seed {seed}: " + " / ".join(f"{100 * r[k]:.2f}" for k, _ in COLUMNS))
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


def main(argv: Optional[list[str]] = None) -> dict[str, list[dict]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", default="mpt_fmnist", help="experiment prefix: <exp>_old and <exp> must exist")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--fast-dev-run", action="store_true", help="1 epoch of 2 batches on 512 images per stage")
    parser.add_argument("--in-process", action="store_true", help="call zoo.cli.train instead of train.py subprocesses")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per stage (0: torch's default)")
    parser.add_argument("--runs-dir", type=Path, default=None, help="default: logs/mpt_study/<experiment>/<time>")
    parser.add_argument("--mpt-overrides", nargs="*", default=[], help="overrides for the MPT stage only, "
                        "e.g. model.loss.margin_bias=1")
    parser.add_argument("--pct-overrides", nargs="*", default=[], help="overrides for the PCT stage only")
    parser.add_argument("--resume", action="store_true", help="reuse stages of --runs-dir that finished")
    parser.add_argument("--out", type=Path, default=None,
                        help="also write the markdown table here (default: only bench/results/<experiment>.csv)")
    parser.add_argument("overrides", nargs="*", help="extra train.py overrides for every stage")
    args = parser.parse_args(argv)

    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    runs_dir = args.runs_dir or ROOT / "logs" / "mpt_study" / args.experiment / stamp
    extra = (FAST_DEV_RUN if args.fast_dev_run else []) + list(args.overrides)
    runner = run_in_process if args.in_process else run_subprocess
    start = time.time()
    results = run_study(args.experiment, args.seeds, runs_dir, extra, runner, args.threads, args.resume,
                        {"MPT": args.mpt_overrides, "PCT": args.pct_overrides})
    command = "python bench/mpt_study.py " + " ".join(argv if argv is not None else sys.argv[1:])
    note = (f"Runs in `{runs_dir}`; wall time {time.time() - start:.0f} s; extra overrides: "
            f"{' '.join(extra) or 'none'}; MPT only: {' '.join(args.mpt_overrides) or 'none'}; "
            f"PCT only: {' '.join(args.pct_overrides) or 'none'}.")
    if args.out is not None:
        print(write_table(results, args.out, command, args.seeds, note))
    else:  # results as data (bench/results_data.py); the docs render the table from it
        sys.path.insert(0, str(ROOT))
        from bench.results_data import write_results

        rows = [{"setting": method, "seed": seed, "metric": name, "value": 100 * r[key]}
                for method in METHODS for seed, r in zip(args.seeds, results[method]) for key, name in COLUMNS
                if r.get(key) is not None]
        rows += [{"setting": f"{stage} model", "seed": seed, "metric": "acc", "value": 100 * r["test/acc"]}
                 for stage in ("old", "reference") for seed, r in zip(args.seeds, results[stage])]
        print(f"{note}\nwrote {write_results(args.experiment, rows, command=command)}")
    return results


if __name__ == "__main__":
    main()
