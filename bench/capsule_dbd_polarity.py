"""Benchmark: polarity of the capsule ensemble mixed by the log-space DBD at several sharpness
values and by the paper's additive DBD, the same trained networks. Writes
``bench/results/capsule_dbd_polarity.csv``.

    nice -n 10 python bench/capsule_dbd_polarity.py --seed 0

Trains one seed of ``capsule_blitzer`` and of ``capsule_persian`` at their presets (checkpoint and
early stopping as the preset says, with the preset's DBD), then re-mixes the selected networks:
log-space DBD with ``sharpness`` in ``SHARPNESS`` on val (the predicted domain does not depend on
it), the sharpness chosen by the preset's monitored metric (rule 2 of ``research/capsules.md``:
ties within the paired standard error go to the largest sharpness), then the chosen value and the
additive DBD on test. Only the mixing weights differ, so differences are paired (accuracy: the
per-document standard error; macro-F1: a seeded paired bootstrap). ``setting`` is
``<experiment>/<dbd>``.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("WANDB_MODE", "disabled")

import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402

from capsule_ensemble import compose_run  # noqa: E402
from results_data import write_results  # noqa: E402
from zoo import cli  # noqa: E402
from zoo.nets.domain_belonging_degree import DomainBelongingDegree  # noqa: E402

EXPERIMENTS = ("capsule_blitzer", "capsule_persian")
SHARPNESS = (1.0, 0.3, 0.1, 0.03, 0.01)  # the grid of research/capsules.md, rule 2


def preset_epochs(experiment: str) -> int:
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        return int(compose(config_name="train.yaml", overrides=[f"experiment={experiment}"]).trainer.max_epochs)


@torch.no_grad()
def predictions(model, loader) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Predicted polarity and domain, true polarity and domain over a loader."""
    model.eval()
    out = [[], [], [], []]
    for batch in loader:
        probs, degrees = model(batch["input_ids"])
        for i, t in enumerate((probs.argmax(1), degrees.argmax(1), batch["label"], batch["domain"])):
            out[i].append(t)
    return tuple(torch.cat(t) for t in out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--experiments", nargs="+", choices=EXPERIMENTS, default=list(EXPERIMENTS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for experiment in args.experiments:
        with tempfile.TemporaryDirectory() as out_dir:
            cfg = compose_run(experiment, [f"seed={args.seed}"], out_dir, epochs=preset_epochs(experiment))
            metrics, objects = cli.train(cfg)
        model, dm = objects["model"], objects["datamodule"]  # the selected checkpoint's weights
        monitor = "polarity_f1" if "f1" in str(cfg.callbacks.model_checkpoint.monitor) else "polarity_acc"
        shipped = model.dbd
        paper = DomainBelongingDegree(num_domains=dm.num_domains, vocab_size=dm.vocab_size, aggregation="additive")
        paper.fit(dm.domain_term_counts(), dm.class_counts().sum(dim=1))
        loaders = {"val": dm.val_dataloader(), "test": dm.test_dataloader()}

        def score(name: str, dbd, split: str) -> dict:
            model.dbd = dbd
            pol, dom, y, d = predictions(model, loaders[split])
            values = {"polarity_acc": float((pol == y).double().mean()),
                      "polarity_f1": float(f1_score(y, pol, average="macro")),
                      "domain_acc": float((dom == d).double().mean())}
            for metric, value in values.items():
                rows.append({"setting": f"{experiment}/{name}", "seed": args.seed, "metric": f"{split}/{metric}",
                             "value": value})
            print(f"{experiment} {name} {split}: " + ", ".join(f"{k} {v:.4f}" for k, v in values.items()), flush=True)
            return {"pred": pol, "y": y, **values}

        def paired_se(a: dict, b: dict) -> float:
            if monitor == "polarity_acc":
                diff = (a["pred"] == a["y"]).double() - (b["pred"] == b["y"]).double()
                return float(diff.std() / math.sqrt(diff.numel()))
            # macro-F1 is not a mean over documents: bootstrap the paired difference (seeded)
            generator = torch.Generator().manual_seed(0)
            n, diffs = a["y"].numel(), []
            for _ in range(200):
                idx = torch.randint(n, (n,), generator=generator)
                diffs.append(f1_score(a["y"][idx], a["pred"][idx], average="macro")
                             - f1_score(b["y"][idx], b["pred"][idx], average="macro"))
            return float(torch.tensor(diffs).std())

        val = {}
        for p in SHARPNESS:
            dbd = copy.deepcopy(shipped)
            dbd.sharpness = p
            val[p] = (dbd, score(f"dbd_log_p{p:g}", dbd, "val"))
        best = max(val, key=lambda p: val[p][1][monitor])
        tied = [p for p in SHARPNESS if p == best or abs(val[p][1][monitor] - val[best][1][monitor])
                < paired_se(val[p][1], val[best][1])]
        chosen = max(tied)
        additive_val = score("dbd_additive", paper, "val")
        se = paired_se(val[chosen][1], additive_val)
        print(f"{experiment}: best sharpness {best}, tied {tied}, chosen {chosen}; chosen - additive val "
              f"{monitor} {val[chosen][1][monitor] - additive_val[monitor]:+.4f} (paired se {se:.4f})", flush=True)
        rows += [{"setting": f"{experiment}/dbd_log_chosen", "seed": args.seed, "metric": "sharpness", "value": chosen},
                 {"setting": f"{experiment}/dbd_log_chosen_minus_additive", "seed": args.seed,
                  "metric": f"val/{monitor}_diff", "value": val[chosen][1][monitor] - additive_val[monitor]},
                 {"setting": f"{experiment}/dbd_log_chosen_minus_additive", "seed": args.seed,
                  "metric": f"val/{monitor}_diff_se", "value": se},
                 {"setting": f"{experiment}/dbd_log_p1", "seed": args.seed, "metric": "epochs_run",
                  "value": float(objects["trainer"].current_epoch)}]
        score(f"dbd_log_p{chosen:g}", val[chosen][0], "test")
        score("dbd_additive", paper, "test")
        model.dbd = shipped
    print(f"wrote {write_results('capsule_dbd_polarity', rows)}")


if __name__ == "__main__":
    main()
