"""Benchmark: DBD-weighted capsule ensemble vs TF-IDF + logistic regression, one pooled capsule net
and the uniform-weight ensemble, mean over seeds. Writes ``bench/results/capsule_<data>.csv`` (``bench.results_data``).

    nice -n 10 python bench/capsule_ensemble.py --data blitzer_mdsd --seeds 0 1 2 --epochs 6 data.max_length=96
    nice -n 10 python bench/capsule_ensemble.py --data persian_sentiment --seeds 0 1 2 --epochs 6 data.max_length=48

The split is fixed (``data.split_seed=0``), and so is the batch order (the train loader's
generator is seeded with ``data.split_seed``); the seed changes initialisation and dropout. The
uniform ensemble is the DBD ensemble's trained networks tested with ``model.weighting=uniform``
(same weights, only the mixing differs). On the Persian set the ensemble and the pooled net are
also trained with the class weights switched (``none`` if the experiment uses ``inverse`` or
``effective`` weights, else ``inverse``; the pooled net only with ``--ablate-pooled``; a pooled net
has no warm-up, so it takes its class weights in every epoch), to measure what the
cost-sensitive loss adds. ``--compare "LABEL=OVERRIDE OVERRIDE ..."`` (repeatable) adds an ensemble
row trained with those overrides on top (e.g. the ensemble without the pooled warm-up). Extra Hydra
overrides after ``--`` apply to every capsule run. The val columns are the best validation values
of the run (the checkpoint's; model selection uses them, the test columns are reported).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
os.environ.setdefault("WANDB_MODE", "disabled")

import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import open_dict  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score  # noqa: E402

from bench.results_data import write_results  # noqa: E402
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


@dataclass
class CapsuleRun:
    """One capsule training run: its metrics (the table's values), its datamodule (for the TF-IDF
    baseline on the same split), the settings line and the class weights it was composed with."""

    metrics: dict
    datamodule: object
    settings: str
    class_weights: str


def capsule_run(experiment: str, overrides: list[str], epochs: int, uniform_too: bool = False) -> CapsuleRun:
    with tempfile.TemporaryDirectory() as out_dir:
        cfg = compose_run(experiment, overrides, out_dir, epochs)
        metrics, objects = cli.train(cfg)
        result = {k: metrics[k] for k in ("test/polarity_acc", "test/polarity_f1", "test/domain_acc")}
        for k in ("val/polarity_acc_best", "val/polarity_f1_best"):
            result[k] = float(metrics[k]) if k in metrics else float("nan")
        result["epochs_run"] = objects["trainer"].current_epoch
        if uniform_too:
            model = objects["model"]  # holds the best checkpoint's weights after cli.train's test
            model.weighting = "uniform"
            uniform = objects["trainer"].test(model=model, datamodule=objects["datamodule"], verbose=False)[0]
            result["uniform"] = {k: float(uniform[k]) for k in ("test/polarity_acc", "test/polarity_f1",
                                                                 "test/domain_acc")}
    print(f"run {' '.join(overrides)}: " + ", ".join(
        f"{k}={v:.4f}" for k, v in result.items() if isinstance(v, float)), flush=True)
    return CapsuleRun(result, objects["datamodule"], describe(cfg), str(cfg.model.objective.class_weights))


def describe(cfg) -> str:
    """The capsule-run settings the table depends on, read from the composed config."""
    model, objective = cfg.model, cfg.model.objective
    weights = objective.class_weights
    if weights in ("inverse", "effective"):
        form = (f"power {objective.get('power', 1.0)}" if weights == "inverse"
                else f"beta {objective.get('beta', 0.999)}")
        weights = f"{weights} ({form}, {model.get('class_weight_counts', 'domain')} counts)"
    return (f"{objective._target_.rsplit('.', 1)[-1]}, class weights {weights}, "
            f"share_embeddings={model.get('share_embeddings', False)}, "
            f"pooled_warmup_epochs={model.get('pooled_warmup_epochs', 0)} "
            f"(finetune_lr_scale {model.get('finetune_lr_scale', 1.0)}), "
            f"DBD {model.dbd.get('aggregation', 'additive')} prior={model.dbd.get('prior', True)} "
            f"idf={model.dbd.get('idf', False)} balance_domains={model.dbd.get('balance_domains', False)} "
            f"sharpness={model.dbd.sharpness}, "
            f"checkpoint + early stopping on {cfg.callbacks.model_checkpoint.monitor} "
            f"(patience {cfg.callbacks.early_stopping.patience}), max_length {cfg.data.max_length}")


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
    parser.add_argument("--ablate-pooled", action="store_true",
                        help="Persian: also train the pooled net with the class weights switched")
    parser.add_argument("--compare", action="append", default=[], metavar="LABEL=OVERRIDES",
                        help="an extra ensemble row: its label and space-separated Hydra overrides")
    parser.add_argument("--tag", default=None, help="write bench/results/capsule_<data>_<tag>.md instead")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every capsule run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    experiment = EXPERIMENTS[args.data]
    persian = args.data == "persian_sentiment"
    rows: dict[str, list[dict]] = {}
    settings = ""
    start = time.time()
    for seed in args.seeds:
        base = [f"seed={seed}", *args.overrides]
        ens = capsule_run(experiment, base, args.epochs, uniform_too=True)
        settings = ens.settings
        rows.setdefault("TF-IDF + LogReg", []).append(tfidf_logreg(ens.datamodule, seed))
        rows.setdefault("capsule ensemble, DBD weights", []).append(ens.metrics)
        rows.setdefault("capsule ensemble, uniform weights", []).append(ens.metrics["uniform"])
        for spec in args.compare:
            label, _, extra = spec.partition("=")
            other = capsule_run(experiment, [*base, *extra.split()], args.epochs)
            rows.setdefault(f"capsule ensemble, DBD weights, {label}", []).append(other.metrics)
        pooled_extra = ["model.per_domain=false"]
        pooled = capsule_run(experiment, [*base, *pooled_extra], args.epochs)
        rows.setdefault("single pooled capsule net", []).append(pooled.metrics)
        if persian:
            switched = "inverse" if ens.class_weights == "none" else "none"
            ablations = [(f"capsule ensemble, DBD weights, class weights {switched}", [])]
            if args.ablate_pooled:
                ablations.append((f"single pooled capsule net, class weights {switched}", pooled_extra))
            for name, extra in ablations:
                other = capsule_run(experiment, [*base, *extra, f"model.objective.class_weights={switched}"],
                                    args.epochs)
                rows.setdefault(name, []).append(other.metrics)
        print(f"seed {seed} done after {time.time() - start:.0f}s", flush=True)
        for name, results in rows.items():
            print(f"  {name}: acc {fmt([r['test/polarity_acc'] for r in results])}", flush=True)

    elapsed = time.time() - start
    command = " ".join(["nice -n 10 python bench/capsule_ensemble.py", f"--data {args.data}",
                        "--seeds " + " ".join(map(str, args.seeds)), f"--epochs {args.epochs}",
                        *(["--ablate-pooled"] if args.ablate_pooled else []),
                        *(f"--compare '{spec}'" for spec in args.compare),
                        *([f"--tag {args.tag}"] if args.tag else []), *args.overrides])
    lines = [
        f"# Capsule ensemble benchmark: {args.data}",
        "",
        f"Command: `{command}`",
        "",
        f"Budget: {len(args.seeds)} seeds, at most {args.epochs} epochs per capsule run, CPU, {args.threads} torch "
        f"thread(s), nice 10, on a shared 2-core machine, total wall time {elapsed / 60:.1f} min. Split and batch "
        f"order fixed (data.split_seed=0); the seed varies initialisation and dropout.",
        "",
        f"Capsule runs (unless the row says otherwise): {settings}.",
        "",
        "| method | test/polarity_acc | test/polarity_f1 (macro) | test/domain_acc | val/polarity_acc_best | val/polarity_f1_best |",
        "|---|---|---|---|---|---|",
    ]
    for name, results in rows.items():
        lines.append(
            f"| {name} | {fmt([r['test/polarity_acc'] for r in results])} | "
            f"{fmt([r['test/polarity_f1'] for r in results])} | {fmt([r['test/domain_acc'] for r in results])} | "
            f"{fmt([r.get('val/polarity_acc_best', float('nan')) for r in results])} | "
            f"{fmt([r.get('val/polarity_f1_best', float('nan')) for r in results])} |"
        )
    lines += ["", "Mean ± sample standard deviation over seeds (the uniform row re-tests the DBD ensemble's "
              "networks, so it has no val columns of its own). Per seed (test polarity_acc / macro-F1):", ""]
    for name, results in rows.items():
        lines.append(f"- {name}: " + ", ".join(f"{r['test/polarity_acc']:.4f} / {r['test/polarity_f1']:.4f}"
                                              for r in results))
    # results as data: one row per method, seed and metric (the table above is printed, the docs render it)
    columns = {"test/polarity_acc": "test/polarity_acc", "test/polarity_f1": "test/polarity_f1 (macro)",
               "test/domain_acc": "test/domain_acc", "val/polarity_acc_best": "val/polarity_acc_best",
               "val/polarity_f1_best": "val/polarity_f1_best"}
    data = [{"setting": name, "seed": seed, "metric": metric, "value": result[key]}
            for name, results in rows.items() for seed, result in zip(args.seeds, results)
            for key, metric in columns.items() if key in result]
    write_results(f"capsule_{args.data}{'_' + args.tag if args.tag else ''}", data, command=command)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
