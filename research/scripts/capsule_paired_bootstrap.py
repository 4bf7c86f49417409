"""How finely can the Persian validation split separate two capsule settings? Train setting A and
setting B for each seed, predict val and test with the selected checkpoints and report, per split,
the macro-F1 / accuracy difference B - A with a paired bootstrap standard error over the split's
documents (the documents are resampled, the trained models are fixed). The seed-to-seed spread says
nothing about this error: every seed is scored on the same documents. Prints only.

    nice -n 10 python bench/capsule_paired_bootstrap.py --seeds 0 1 2 \\
        --a "data.max_length=48 model.objective.class_weights=none" --b "data.max_length=48"

Use it on settings whose test numbers are already reported (it predicts the test split).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "bench"  # these scripts ran from bench/
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent / "src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from omegaconf import open_dict  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402

from capsule_ensemble import compose_run  # noqa: E402
from zoo import cli  # noqa: E402


@torch.no_grad()
def predict(model, loader) -> tuple[np.ndarray, np.ndarray]:
    preds, labels = [], []
    for batch in loader:
        probs, _ = model(batch["input_ids"])
        preds.append(probs.argmax(dim=1)), labels.append(batch["label"])
    return torch.cat(labels).numpy(), torch.cat(preds).numpy()


def train_and_predict(experiment: str, overrides: list[str], epochs: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    with tempfile.TemporaryDirectory() as out_dir:
        cfg = compose_run(experiment, overrides, out_dir, epochs)
        with open_dict(cfg):
            cfg.test = False
        _, objects = cli.train(cfg)
        model, dm = objects["model"], objects["datamodule"]
        state = torch.load(objects["trainer"].checkpoint_callback.best_model_path, map_location="cpu",
                           weights_only=False)
        model.load_state_dict(state["state_dict"])
        model.eval()
        return {"val": predict(model, dm.val_dataloader()), "test": predict(model, dm.test_dataloader())}


def paired_bootstrap(y, pred_a, pred_b, rounds: int, seed: int) -> dict[str, tuple[float, float]]:
    rng = np.random.default_rng(seed)
    out = {}
    for name, metric in (("F1", lambda t, p: f1_score(t, p, average="macro")),
                         ("acc", lambda t, p: float((t == p).mean()))):
        delta = metric(y, pred_b) - metric(y, pred_a)
        draws = []
        for _ in range(rounds):
            idx = rng.integers(0, len(y), len(y))
            draws.append(metric(y[idx], pred_b[idx]) - metric(y[idx], pred_a[idx]))
        out[name] = (float(delta), float(np.std(draws, ddof=1)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", default="capsule_persian")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--a", required=True, help="Hydra overrides of setting A (space-separated)")
    parser.add_argument("--b", required=True, help="Hydra overrides of setting B (space-separated)")
    parser.add_argument("--rounds", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"A: {args.a}\nB: {args.b}")
    for seed in args.seeds:
        a = train_and_predict(args.experiment, [f"seed={seed}", *args.a.split()], args.epochs)
        b = train_and_predict(args.experiment, [f"seed={seed}", *args.b.split()], args.epochs)
        for split in ("val", "test"):
            (y, pa), (_, pb) = a[split], b[split]
            stats = paired_bootstrap(y, pa, pb, args.rounds, seed)
            print(f"RESULT seed {seed} {split} (n={len(y)}, models disagree on {float((pa != pb).mean()):.3f}): "
                  + ", ".join(f"B-A {k} {d:+.4f} (bootstrap se {se:.4f})" for k, (d, se) in stats.items()),
                  flush=True)


if __name__ == "__main__":
    main()
