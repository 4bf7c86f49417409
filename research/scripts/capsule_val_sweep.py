"""Validation sweep for the capsule ensemble: train one run per setting, print the validation
polarity accuracy / macro-F1 after every epoch and, per run, the best validation values, the test
values of the selected checkpoint and which epoch it is. Prints only (no results file); used to
choose the Persian settings on the validation split (README, capsule section).

    nice -n 10 python bench/capsule_val_sweep.py --experiment capsule_persian --epochs 6 \\
        "pooled: seed=0 data.max_length=48 model.per_domain=false" \\
        "warm-up 2, lr x0.1: seed=0 data.max_length=48 model.pooled_warmup_epochs=2 model.finetune_lr_scale=0.1"

Each positional argument is ``LABEL: OVERRIDE OVERRIDE ...`` (Hydra overrides of that run).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "bench"  # these scripts ran from bench/
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent / "src"))

import torch  # noqa: E402
from lightning.pytorch.callbacks import Callback  # noqa: E402
from omegaconf import open_dict  # noqa: E402

from capsule_ensemble import compose_run  # noqa: E402
from zoo import cli  # noqa: E402


class EpochPrinter(Callback):
    """Prints the epoch's validation polarity accuracy and macro-F1 (after validation has run)."""

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        m = trainer.callback_metrics
        if "val/polarity_acc" in m:
            print(f"   epoch {trainer.current_epoch}: val acc {float(m['val/polarity_acc']):.4f} "
                  f"macro-F1 {float(m['val/polarity_f1']):.4f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", default="capsule_persian")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("runs", nargs="+", metavar="LABEL: OVERRIDES")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for spec in args.runs:
        label, _, overrides = spec.partition(":")
        start = time.time()
        print(f"{label}: {overrides.strip()}", flush=True)
        with tempfile.TemporaryDirectory() as out:
            cfg = compose_run(args.experiment, overrides.split(), out, args.epochs)
            with open_dict(cfg):
                cfg.callbacks.epoch_printer = {"_target_": f"{__name__}.EpochPrinter"}
            metrics, objects = cli.train(cfg)
        best = os.path.basename(objects["trainer"].checkpoint_callback.best_model_path)
        print(f"RESULT {label}: best val acc {float(metrics['val/polarity_acc_best']):.4f} "
              f"macro-F1 {float(metrics['val/polarity_f1_best']):.4f} | selected {best}: test acc "
              f"{metrics['test/polarity_acc']:.4f} macro-F1 {metrics['test/polarity_f1']:.4f} | "
              f"{time.time() - start:.0f}s", flush=True)


if __name__ == "__main__":
    main()
