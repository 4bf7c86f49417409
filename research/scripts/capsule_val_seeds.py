"""Validation-only multi-seed sweep for the capsule ensemble: train each setting for several seeds
(no test pass), load the checkpoint the run selected (best ``callbacks.model_checkpoint.monitor``)
and re-mix its networks on the validation split: the configured DBD mix, the uniform mix and the
DBD raised to several sharpness exponents; per-class precision / recall of the DBD mix; split-half
cross-fitted scores (epoch chosen on one half of val, scored on the other; ``cross_fitted``). Prints the
per-run lines and a mean-over-seeds table; test numbers are never computed, so the choice it
supports is made on validation alone (``bench/capsule_ensemble.py`` then tests the chosen setting).

    nice -n 10 python bench/capsule_val_seeds.py --experiment capsule_persian --epochs 6 --seeds 0 1 2 3 4 -- \\
        "inverse pooled: data.max_length=48" \\
        "none: data.max_length=48 model.objective.class_weights=none"

Each positional argument is ``LABEL: OVERRIDE OVERRIDE ...`` (Hydra overrides of that run, the
seed is added). ``--out FILE`` also writes the summary as a markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "bench"  # these scripts ran from bench/
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent / "src"))

import torch  # noqa: E402
from omegaconf import open_dict  # noqa: E402
from sklearn.metrics import f1_score, precision_recall_fscore_support  # noqa: E402

from capsule_ensemble import compose_run  # noqa: E402
from zoo import cli  # noqa: E402
from zoo.objectives.capsule_cross_entropy import length_probabilities  # noqa: E402

SHARPNESS = (0.5, 2.0, 4.0)


@torch.no_grad()
def val_outputs(model, datamodule) -> dict[str, torch.Tensor]:
    """One pass over the validation split: labels, per-net class probabilities (B, K, C), the DBD
    mixing weights (B, K) and the summed term degrees (B, K) that the DBD is computed from."""
    probs, labels, weights, scores = [], [], [], []
    for batch in datamodule.val_dataloader():
        ids = batch["input_ids"]
        probs.append(torch.stack([length_probabilities(net(ids)) for net in model.nets], dim=1))
        weights.append(model.mixing_weights(ids)[1])
        scores.append(model.dbd.term_degree[ids].sum(dim=1))
        labels.append(batch["label"])
    return {"y": torch.cat(labels), "probs": torch.cat(probs).double(), "weights": torch.cat(weights).double(),
            "scores": torch.cat(scores).double()}


def mixed(out: dict[str, torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
    """Predictions of the per-net probabilities mixed with ``weights`` (B, K)."""
    return (weights.unsqueeze(-1) * out["probs"]).sum(dim=1).argmax(dim=1)


def val_predictions(out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The DBD-mix and uniform-mix predictions."""
    uniform = torch.full_like(out["weights"], 1.0 / out["weights"].size(1))
    return {name: mixed(out, w) for name, w in (("dbd", out["weights"]), ("uniform", uniform))}


def cross_fitted(y: torch.Tensor, per_epoch: list[dict[str, torch.Tensor]], seed: int = 0) -> dict[str, float]:
    """Split-half cross-fitted validation scores: the epoch is chosen by the DBD mix's macro-F1 on
    one random half of the validation split and scored on the other half, both ways, averaged. The
    best-epoch value (max over epochs on the whole split) favours settings whose val score jumps
    more between epochs; the cross-fitted one does not."""
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    halves = (perm[: len(y) // 2], perm[len(y) // 2:])

    def f1(pred, idx):
        return float(f1_score(y[idx], pred[idx], average="macro"))

    out: dict[str, float] = {}
    for name in per_epoch[0]:
        f1s, accs = [], []
        for select, score in (halves, halves[::-1]):
            best = max(range(len(per_epoch)), key=lambda e: f1(per_epoch[e]["dbd"], select))
            pred = per_epoch[best][name]
            f1s.append(f1(pred, score))
            accs.append(float((pred[score] == y[score]).float().mean()))
        out[f"xfit {name} acc"] = sum(accs) / 2
        out[f"xfit {name} F1"] = sum(f1s) / 2
    return out


def val_diagnostics(model, datamodule, out: dict[str, torch.Tensor]) -> dict[str, float]:
    y, g = out["y"], out["scores"]
    k = out["probs"].size(1)

    def sharpened(p: float) -> torch.Tensor:
        w = g.clamp_min(1e-300).pow(p * model.dbd.sharpness)
        return w / w.sum(dim=1, keepdim=True)

    result: dict[str, float] = {}
    preds = val_predictions(out)
    if k > 1:
        for p in SHARPNESS:
            preds[f"dbd^{p:g}"] = mixed(out, sharpened(p))
    else:  # one net: every mix is that net's prediction
        del preds["uniform"]
    for name, pred in preds.items():
        result[f"{name} acc"] = float((pred == y).float().mean())
        result[f"{name} F1"] = float(f1_score(y, pred, average="macro"))
    precision, recall, _, _ = precision_recall_fscore_support(y, preds["dbd"], zero_division=0)
    for c, name in enumerate(datamodule.class_names):
        result[f"P {name}"] = float(precision[c])
        result[f"R {name}"] = float(recall[c])
    share = torch.bincount(preds["dbd"], minlength=len(datamodule.class_names)).float() / len(y)
    result["pred share"] = "/".join(f"{v:.2f}" for v in share.tolist())  # type: ignore[assignment]
    return result


def run_one(experiment: str, overrides: list[str], epochs: int) -> dict:
    with tempfile.TemporaryDirectory() as out_dir:
        cfg = compose_run(experiment, overrides, out_dir, epochs)
        with open_dict(cfg):
            cfg.test = False
            cfg.callbacks.model_checkpoint.save_top_k = -1  # every epoch, for the cross-fitted scores
        metrics, objects = cli.train(cfg)
        trainer, model, datamodule = objects["trainer"], objects["model"], objects["datamodule"]
        model.eval()
        best = Path(trainer.checkpoint_callback.best_model_path)
        per_epoch, best_out, best_epoch = [], None, None
        for path in sorted(Path(trainer.checkpoint_callback.dirpath).glob("epoch_*.ckpt")):
            state = torch.load(path, map_location="cpu", weights_only=False)
            model.load_state_dict(state["state_dict"])
            out = val_outputs(model, datamodule)
            per_epoch.append(val_predictions(out))
            if path == best:
                best_out, best_epoch = out, int(state["epoch"])
        result = val_diagnostics(model, datamodule, best_out)
        result.update(cross_fitted(best_out["y"], per_epoch))
        result["epoch"] = best_epoch
    return result


def fmt(values: list[float]) -> str:
    return f"{statistics.mean(values):.4f}" + (f" ± {statistics.stdev(values):.4f}" if len(values) > 1 else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", default="capsule_persian")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", default=None, help="also write the summary table (markdown) here")
    parser.add_argument("runs", nargs="+", metavar="LABEL: OVERRIDES")
    args = parser.parse_args()
    torch.set_num_threads(1)
    summary: dict[str, list[dict]] = {}
    start = time.time()
    for spec in args.runs:
        label, _, overrides = spec.partition(":")
        for seed in args.seeds:
            t0 = time.time()
            result = run_one(args.experiment, [f"seed={seed}", *overrides.split()], args.epochs)
            summary.setdefault(label, []).append(result)
            print(f"RUN {label} seed={seed} ({time.time() - t0:.0f}s): " + ", ".join(
                f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items()), flush=True)
    keys = [k for k, v in next(iter(summary.values()))[0].items() if isinstance(v, float)]
    lines = [f"Validation split only, seeds {' '.join(map(str, args.seeds))}, at most {args.epochs} epochs, "
             f"experiment {args.experiment}; mean ± sd over seeds at the selected checkpoint "
             f"({time.time() - start:.0f}s in all).", "",
             "| setting | " + " | ".join(keys) + " | epoch |", "|---" * (len(keys) + 2) + "|"]
    for label, results in summary.items():
        lines.append(f"| {label} | " + " | ".join(fmt([r[k] for r in results]) for k in keys)
                     + " | " + ",".join(str(r["epoch"]) for r in results) + " |")
    lines += ["", "Per seed (DBD val acc / macro-F1 ; uniform val acc):"]
    for label, results in summary.items():
        lines.append(f"- {label}: " + ", ".join(
            f"{r['dbd acc']:.4f} / {r['dbd F1']:.4f} ; {r.get('uniform acc', float('nan')):.4f}" for r in results))
    overrides_lines = ["", "Settings:"] + [f"- {s.partition(':')[0]}: `{s.partition(':')[2].strip()}`"
                                           for s in args.runs]
    text = "\n".join(lines + overrides_lines)
    print(text, flush=True)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
