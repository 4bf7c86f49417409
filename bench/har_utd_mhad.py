"""HAR benchmark on UTD-MHAD: supervised baseline vs. CMC vs. hard-negative pre-training.

For each seed: the supervised multimodal baseline; CMC (InfoNCE), hard-negative unlabelled (beta,
tau+) and hard-negative label-aware pre-training, each followed by linear evaluation with both
modalities and with one modality; limited-label linear evaluation (k = 1, 2, 4 per class) on the
hard-negative (unlabelled) encoders. Writes the mean +- std over seeds to
``bench/results/har_utd_mhad.csv`` (``--out FILE.md`` writes the markdown record instead). Every run is the ``train.py`` command printed in the table,
executed in-process (one at a time) through ``zoo.cli.train``.

    nice -n 10 python bench/har_utd_mhad.py --seeds 0 1 2 --pretrain-epochs 100 --sup-epochs 100
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("WANDB_MODE", "offline")

from zoo import cli  # noqa: E402

def experiment_config(experiment: str) -> DictConfig:
    """The composed ``train.yaml`` config of ``experiment=<experiment>``."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = compose(config_name="train.yaml", overrides=[f"experiment={experiment}"])
    GlobalHydra.instance().clear()
    return cfg


def pretrain_methods() -> dict[str, tuple[str, list[str]]]:
    """Method key (``--methods``, checkpoint folder ``pre_<seed>_<key>``) -> (row name, pre-training
    overrides); the loss parameters in the row names are read from the experiment configs."""
    loss = experiment_config("har_utd_mhad").model.loss
    return {
        "cmc": ("CMC (InfoNCE)", ["experiment=har_cmc"]),
        "hn": (f"hard-negative, unlabelled (beta={loss.beta:g}, tau+={loss.tau_plus:g})", ["experiment=har_utd_mhad"]),
        "hn_labels": (f"hard-negative, label-aware (beta={loss.beta:g})",
                      ["experiment=har_utd_mhad", "model.loss.use_labels=true", "model.loss.tau_plus=0.0"]),
    }


def linear_probe_setting() -> str:
    """The strictly linear probe's feature scaling, per-modality loss weight, learning rate and whether
    it trains on cached or augmented features, as ``har_linear_eval`` sets them."""
    config = experiment_config("har_linear_eval")
    model = config.model
    features = "features cached (no augmentations)" if model.cache_features else \
        "features recomputed every epoch from augmented recordings" if config.data.train_transforms else "no augmentations"
    return (f"modality_scaling={model.modality_scaling}, modality_loss_weight={model.modality_loss_weight:g}, "
            f"Adam lr {model.optimizer.lr:g}, {features}")


LINEAR = {
    "both": ["model.modalities=[skeleton,inertial]"],
    "skeleton": ["model.modalities=[skeleton]"],
    "inertial": ["model.modalities=[inertial]"],
}
#: frozen features computed once per recording, without training augmentations (the probe before it
#: moved to augmented recordings)
CACHED_FEATURES = ["model.cache_features=true", "data.train_transforms=null"]
#: CMC-CMKM's evaluation head on the frozen encoders: Linear-BN-ReLU (256) per modality, then linear;
#: on cached features, as every MLP-head row so far
MLP_HEAD = ["model.head_hidden=256", "model.feature_norm=false", "model.modality_scaling=null",
            "model.modality_loss_weight=0.0", "model.optimizer.lr=1e-3", *CACHED_FEATURES]
MLP_NAME = "frozen encoders + MLP head as CMC-CMKM"
#: the published numbers every HAR results table ends with
REFERENCE = ("Reference (CMC-CMKM README, 100 epochs, GPU, their MLP evaluation head): CMC 96.04, CMC-CMKM 97.67, "
             "supervised multimodal 97.21.")


def run(overrides: list[str], out: Path) -> tuple[dict, str]:
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = compose(config_name="train.yaml", overrides=overrides, return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.root_dir = str(ROOT)
        cfg.paths.output_dir = str(out)
        cfg.paths.log_dir = str(out / "logs")
        cfg.paths.work_dir = str(ROOT)
        cfg.logger = None
        cfg.callbacks.progress_bar = None
        cfg.trainer.enable_progress_bar = False
        cfg.trainer.enable_model_summary = False
        cfg.extras.print_config = False
        del cfg.hydra
    metrics, objects = cli.train(cfg)
    ckpt = objects["trainer"].checkpoint_callback.best_model_path
    GlobalHydra.instance().clear()
    return metrics, ckpt


def pretrain_command(method: list[str], epochs: int, common: list[str]) -> list[str]:
    """Overrides of one pre-training run; it keeps its final weights (no monitor: val/loss on one
    subject is a poor selector) and skips the test pass."""
    return [*method, f"trainer.max_epochs={epochs}", "test=false", "callbacks.model_checkpoint.monitor=null", *common]


def reuse_checkpoint(overrides: list[str], folder: Path, epochs: int) -> str:
    """The final checkpoint of an earlier pre-training run in ``folder``, checked against ``overrides``.

    The run must have been composed from the same command: its stored ``seed``, ``data``, ``model`` and
    ``trainer.max_epochs`` (unresolved) must equal those ``overrides`` compose to now.
    """
    ckpt = folder / "checkpoints" / f"epoch_{epochs - 1:03d}.ckpt"
    if not ckpt.is_file():
        raise FileNotFoundError(f"--reuse-pretrained: no {ckpt}")
    stored = torch.load(ckpt, map_location="cpu", weights_only=False)[cli.CONFIG_KEY]
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = OmegaConf.to_container(compose(config_name="train.yaml", overrides=overrides), resolve=False)
    GlobalHydra.instance().clear()
    now = {"seed": cfg["seed"], "data": cfg["data"], "model": cfg["model"], "epochs": cfg["trainer"]["max_epochs"]}
    then = {"seed": stored["seed"], "data": stored["data"], "model": stored["model"],
            "epochs": stored["trainer"]["max_epochs"]}
    differ = [k for k in now if now[k] != then[k]]
    if differ:
        raise ValueError(f"--reuse-pretrained: {ckpt} was trained with other {differ} than {' '.join(overrides)}")
    return str(ckpt)


def fmt(values: list[float]) -> str:
    if not values:
        return "n/a"
    mean = 100 * statistics.fmean(values)
    std = 100 * statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.2f} ± {std:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pretrain-epochs", type=int, default=100)
    parser.add_argument("--sup-epochs", type=int, default=100)
    parser.add_argument("--linear-epochs", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    methods = pretrain_methods()
    parser.add_argument("--methods", nargs="+", default=["supervised", *methods], choices=["supervised", *methods],
                        help="rows to run (default: all)")
    parser.add_argument("--no-limited", action="store_true", help="skip the k = 1, 2, 4 labels/class rows")
    parser.add_argument("--no-single", action="store_true", help="skip the one-modality linear-evaluation rows")
    parser.add_argument("--no-both", action="store_true",
                        help="skip the both-modalities rows with every label (e.g. to add the other rows to an earlier run)")
    parser.add_argument("--mlp-head", action="store_true",
                        help=f"also evaluate both modalities with {MLP_NAME} (Linear-BN-ReLU 256 per modality); "
                             "the limited-label rows then use it too")
    parser.add_argument("--overrides", nargs="*", default=[],
                        help="extra overrides for every run, e.g. model/encoders=har (the narrow encoders)")
    parser.add_argument("--reuse-pretrained", default=None,
                        help="work folder of an earlier run (e.g. /tmp/har_bench_xxx): evaluate its final pre-training "
                             "checkpoints (pre_<seed>_<method>) instead of pre-training again; each checkpoint's stored "
                             "config must match the pre-training command")
    parser.add_argument("--out", default=None,
                        help="write the markdown record here (default: bench/results/har_utd_mhad.csv only)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="har_bench_"))
    results: dict[str, dict[str, list[float]]] = {}
    commands: dict[str, str] = {}
    timings: dict[str, list[float]] = {}
    start = time.time()

    def record(row: str, metrics: dict, command: list[str]) -> None:
        entry = results.setdefault(row, {"acc": [], "f1": []})
        entry["acc"].append(metrics["test/acc"])
        entry["f1"].append(metrics["test/f1"])
        commands[row] = "python train.py " + " ".join(o for o in command if not o.startswith(("seed=", "data.seed=")))
        print(f"[{time.time() - start:7.0f}s] {row}: acc={metrics['test/acc']:.4f} f1={metrics['test/f1']:.4f}", flush=True)

    for seed in args.seeds:
        common = [f"seed={seed}", f"data.seed={seed}", "model.plot_tsne=false", *args.overrides]
        if "supervised" in args.methods:
            sup = ["experiment=har_supervised", f"trainer.max_epochs={args.sup_epochs}", *common]
            tic = time.time()
            metrics, _ = run(sup, work / f"sup_{seed}")
            timings.setdefault("supervised", []).append(time.time() - tic)
            record("supervised multimodal (end to end)", metrics, sup)
        for key, (name, pre) in methods.items():
            if key not in args.methods:
                continue
            pre_cmd = pretrain_command(pre, args.pretrain_epochs, common)
            if args.reuse_pretrained:
                ckpt = reuse_checkpoint(pre_cmd, Path(args.reuse_pretrained) / f"pre_{seed}_{key}", args.pretrain_epochs)
            else:
                tic = time.time()
                _, ckpt = run(pre_cmd, work / f"pre_{seed}_{key}")
                timings.setdefault(f"pre-training ({key})", []).append(time.time() - tic)
            lin_common = ["experiment=har_linear_eval", f"model.pretrained_ckpt={ckpt}",
                          f"trainer.max_epochs={args.linear_epochs}", *common]
            views = {f"linear eval, {view}": mods for view, mods in LINEAR.items()
                     if not (args.no_both if view == "both" else args.no_single)}
            if args.mlp_head and not args.no_both:
                views[f"{MLP_NAME}, both"] = [*LINEAR["both"], *MLP_HEAD]
            for view, extra in views.items():
                cmd = [*lin_common, *extra]
                tic = time.time()
                metrics, _ = run(cmd, work / f"lin_{seed}_{key}_{view.replace(' ', '_')}")
                timings.setdefault("linear evaluation", []).append(time.time() - tic)
                record(f"{name} → {view}", metrics, [*pre_cmd, "→", *cmd])
            if key == "hn" and not args.no_limited:
                head, head_name = (MLP_HEAD, MLP_NAME) if args.mlp_head else ([], "linear eval")
                for k in (1, 2, 4):
                    cmd = [*lin_common, *LINEAR["both"], *head, f"data.limited_k={k}"]
                    metrics, _ = run(cmd, work / f"lim_{seed}_{k}")
                    record(f"{name} → {head_name}, both, k={k} labels/class", metrics, [*pre_cmd, "→", *cmd])
        write(args, results, commands, timings, time.time() - start)
    write(args, results, commands, timings, time.time() - start)


def write(args, results, commands, timings, seconds: float) -> None:
    lines = [
        "# HAR on UTD-MHAD: skeleton + IMU, test subjects 2, 4, 6, 8",
        "",
        f"Budget: seeds {args.seeds}; methods {' '.join(args.methods)}; pre-training {args.pretrain_epochs} epochs, "
        + (f"supervised {args.sup_epochs} epochs, " if "supervised" in args.methods else "")
        + f"linear evaluation {args.linear_epochs} epochs; "
        f"CPU, {args.threads} torch thread(s) under `nice -n 10` on a shared 2-core machine; "
        f"wall time {seconds / 60:.1f} min. Test accuracy / macro-F1 in %, mean ± std over seeds. "
        "Pre-trained encoders: final weights; classifiers: best by val/acc (subject 7). "
        f"Extra overrides on every run: {' '.join(args.overrides) if args.overrides else 'none'}."
        + (f" Pre-training not rerun: the final checkpoints of the earlier run in {args.reuse_pretrained} were "
           "evaluated (each checkpoint's stored seed, data, model and epoch count checked equal to its command's)."
           if args.reuse_pretrained else ""),
        "",
        f"Rows named '{MLP_NAME}' train CMC-CMKM's evaluation head (a Linear-BN-ReLU layer of width 256 per "
        "modality, then a linear classifier) on the frozen encoders: an MLP probe, not linear evaluation; "
        "the 'linear eval' rows are strictly linear (non-affine batch norm, each modality's feature block scaled, "
        f"one linear layer; {linear_probe_setting()}).",
        "",
        "Wall time per run (mean over seeds): " + ", ".join(
            f"{k} {statistics.fmean(v):.0f} s" for k, v in timings.items()) + ".",
        "",
        "| method | test acc | test macro-F1 | seeds |",
        "| --- | --- | --- | --- |",
    ]
    for row, entry in results.items():
        lines.append(f"| {row} | {fmt(entry['acc'])} | {fmt(entry['f1'])} | {len(entry['acc'])} |")
    lines += ["", REFERENCE, "", "## Commands", "",
              "Run as `nice -n 10 python bench/har_utd_mhad.py " + " ".join(sys.argv[1:]) + "`; each row is the "
              "pre-training command, then (→) the linear-evaluation command on its final checkpoint.", ""]
    for row, command in commands.items():
        lines.append(f"- {row}: `{command}`")
    lines.append("")
    lines.append("Raw: " + json.dumps({k: v for k, v in results.items()}))
    if args.out is not None:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("\n".join(lines) + "\n")
        print(f"wrote {args.out}", flush=True)
        return
    print("\n".join(lines), flush=True)
    sys.path.insert(0, str(ROOT))
    from bench.results_data import write_results

    rows = [{"setting": row, "seed": seed, "metric": metric, "value": 100 * value}
            for row, entry in results.items() for key, metric in (("acc", "test acc"), ("f1", "test macro-F1"))
            for seed, value in zip(args.seeds, entry[key])]
    rows += [{"setting": row, "metric": "seeds", "value": len(entry["acc"])} for row, entry in results.items()]
    print(f"wrote {write_results('har_utd_mhad', rows)}", flush=True)


if __name__ == "__main__":
    main()
