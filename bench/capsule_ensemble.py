"""Benchmark: DBD-weighted capsule ensemble vs TF-IDF + logistic regression, one pooled capsule net
and the uniform-weight ensemble, mean over seeds. Writes ``bench/results/capsule_<data>.md``.

    nice -n 10 python bench/capsule_ensemble.py --data blitzer_mdsd --seeds 0 1 2 --epochs 4
    nice -n 10 python bench/capsule_ensemble.py --data persian_sentiment --seeds 0 1 2 --epochs 6

The split is fixed (``data.split_seed=0``); the seed changes initialisation, dropout and batch
order. The uniform ensemble is the DBD ensemble's trained networks tested with
``model.weighting=uniform`` (same weights, only the mixing differs). On the Persian set the
ensemble is also trained without class weights, to measure what the cost-sensitive loss adds.
Extra Hydra overrides after ``--`` apply to every capsule run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("WANDB_MODE", "disabled")

import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import open_dict  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score  # noqa: E402

from zoo import cli  # noqa: E402

EXPERIMENTS = {"blitzer_mdsd": "capsule_blitzer", "persian_sentiment": "capsule_persian"}


def compose_run(experiment: str, overrides: list[str], out_dir: str, epochs: int):
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = compose(config_name="train.yaml", overrides=[f"experiment={experiment}", *overrides],
                      return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.root_dir = str(ROOT)
        cfg.paths.output_dir = out_dir
        cfg.paths.log_dir = os.path.join(out_dir, "logs")
        cfg.paths.work_dir = str(ROOT)
        cfg.paths.cache_dir = os.environ.get("ZOO_CACHE_DIR", str(ROOT / ".cache"))
        cfg.trainer.max_epochs = epochs
        cfg.trainer.accelerator = "cpu"
        cfg.trainer.enable_progress_bar = False
        cfg.trainer.enable_model_summary = False
        cfg.callbacks.progress_bar = None
        cfg.logger = None
        cfg.extras.print_config = False
        del cfg.hydra
    return cfg


def capsule_run(experiment: str, overrides: list[str], epochs: int, uniform_too: bool = False) -> dict:
    with tempfile.TemporaryDirectory() as out_dir:
        cfg = compose_run(experiment, overrides, out_dir, epochs)
        metrics, objects = cli.train(cfg)
        result = {k: metrics[k] for k in ("test/polarity_acc", "test/polarity_f1", "test/domain_acc")}
        result["epochs_run"] = objects["trainer"].current_epoch
        if uniform_too:
            model = objects["model"]  # holds the best checkpoint's weights after cli.train's test
            model.weighting = "uniform"
            uniform = objects["trainer"].test(model=model, datamodule=objects["datamodule"], verbose=False)[0]
            result["uniform"] = {k: float(uniform[k]) for k in ("test/polarity_acc", "test/polarity_f1",
                                                                 "test/domain_acc")}
        result["datamodule"] = objects["datamodule"]
    print(f"run {' '.join(overrides)}: " + ", ".join(
        f"{k}={v:.4f}" for k, v in result.items() if isinstance(v, float)), flush=True)
    return result


def tfidf_logreg(datamodule, seed: int) -> dict:
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=200_000)
    train_x = vectorizer.fit_transform(datamodule.texts("train"))
    test_x = vectorizer.transform(datamodule.texts("test"))
    train_y, test_y = datamodule.split("train").labels, datamodule.split("test").labels
    clf = LogisticRegression(max_iter=2000, C=4.0, random_state=seed).fit(train_x, train_y)
    pred = clf.predict(test_x)
    return {"test/polarity_acc": accuracy_score(test_y, pred),
            "test/polarity_f1": f1_score(test_y, pred, average="macro"), "test/domain_acc": float("nan")}


def fmt(values: list[float]) -> str:
    values = [v for v in values if v == v]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=sorted(EXPERIMENTS), required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 is several times faster than 2 on a loaded 2-core machine)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every capsule run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    experiment = EXPERIMENTS[args.data]
    persian = args.data == "persian_sentiment"
    rows: dict[str, list[dict]] = {}
    start = time.time()
    for seed in args.seeds:
        base = [f"seed={seed}", *args.overrides]
        ens = capsule_run(experiment, base, args.epochs, uniform_too=True)
        rows.setdefault("TF-IDF + LogReg", []).append(tfidf_logreg(ens.pop("datamodule"), seed))
        rows.setdefault("capsule ensemble, DBD weights", []).append(ens)
        rows.setdefault("capsule ensemble, uniform weights", []).append(ens["uniform"])
        pooled = capsule_run(experiment, [*base, "model.per_domain=false"], args.epochs)
        pooled.pop("datamodule")
        rows.setdefault("single pooled capsule net", []).append(pooled)
        if persian:
            plain = capsule_run(experiment, [*base, "model.objective.class_weights=none"], args.epochs)
            plain.pop("datamodule")
            rows.setdefault("capsule ensemble, DBD weights, no class weights", []).append(plain)
        print(f"seed {seed} done after {time.time() - start:.0f}s", flush=True)
        for name, results in rows.items():
            print(f"  {name}: acc {fmt([r['test/polarity_acc'] for r in results])}", flush=True)

    elapsed = time.time() - start
    weights = "inverse class weights (per domain)" if persian else "no class weights"
    command = " ".join(["nice -n 10 python bench/capsule_ensemble.py", f"--data {args.data}",
                        "--seeds " + " ".join(map(str, args.seeds)), f"--epochs {args.epochs}", *args.overrides])
    lines = [
        f"# Capsule ensemble benchmark: {args.data}",
        "",
        f"Command: `{command}`",
        "",
        f"Budget: {len(args.seeds)} seeds, at most {args.epochs} epochs per capsule run (early stopping on "
        f"val/polarity_acc, patience 3), CPU, {args.threads} torch thread(s), nice 10, on a shared 2-core machine, "
        f"total wall time {elapsed / 60:.1f} min. Split fixed (data.split_seed=0); the seed varies "
        f"initialisation, dropout and batch order. Capsule runs: margin loss, {weights} unless stated.",
        "",
        "| method | test/polarity_acc | test/polarity_f1 (macro) | test/domain_acc |",
        "|---|---|---|---|",
    ]
    for name, results in rows.items():
        lines.append(
            f"| {name} | {fmt([r['test/polarity_acc'] for r in results])} | "
            f"{fmt([r['test/polarity_f1'] for r in results])} | {fmt([r['test/domain_acc'] for r in results])} |"
        )
    lines += ["", "Mean ± sample standard deviation over seeds. Per seed (polarity_acc):", ""]
    for name, results in rows.items():
        lines.append(f"- {name}: " + ", ".join(f"{r['test/polarity_acc']:.4f}" for r in results))
    out = ROOT / "bench" / "results" / f"capsule_{args.data}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
