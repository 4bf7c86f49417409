"""Diagnostics for the capsule ensemble: train one ensemble (or pooled net), then re-mix the same
trained networks offline on val and test: uniform, oracle domain (each document to its own
domain's net), DBD in the reference and the ``balance_domains`` form at several sharpness values,
argmax DBD; argmax-DBD domain accuracy; each net's accuracy on its own domain; the val confusion
matrix, per-class F1 and macro recall of the configured model. Prints only (no results file).

    nice -n 10 python bench/capsule_mixing.py --experiment capsule_persian --epochs 6 seed=0 data.max_length=48

Hydra overrides after the options apply to the run. Use the val columns to choose settings.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "bench"  # these scripts ran from bench/
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent / "src"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from sklearn.metrics import confusion_matrix, f1_score, recall_score  # noqa: E402

from capsule_ensemble import compose_run  # noqa: E402
from zoo import cli  # noqa: E402
from zoo.nets.domain_belonging_degree import DomainBelongingDegree  # noqa: E402
from zoo.objectives.capsule_cross_entropy import length_probabilities  # noqa: E402


@torch.no_grad()
def collect(model, loader):
    """Per-net class probabilities ``(N, K, C)``, labels, domains and the input-id batches."""
    probs, labels, domains, batches = [], [], [], []
    for batch in loader:
        ids = batch["input_ids"]
        probs.append(torch.stack([length_probabilities(net(ids)) for net in model.nets], dim=1))
        labels.append(batch["label"]), domains.append(batch["domain"]), batches.append(ids)
    return torch.cat(probs), torch.cat(labels), torch.cat(domains), batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", default="capsule_persian")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.time()
    with tempfile.TemporaryDirectory() as out:
        metrics, objects = cli.train(compose_run(args.experiment, args.overrides, out, args.epochs))
    model, dm = objects["model"].eval(), objects["datamodule"]
    print(f"trained in {time.time() - start:.0f}s;", {k: round(float(v), 4) for k, v in metrics.items()
                                                       if k.startswith("test/")})
    counts = dm.domain_term_counts()
    dbds = {bal: DomainBelongingDegree(num_domains=dm.num_domains, vocab_size=dm.vocab_size,
                                       aggregation="additive", balance_domains=bal).fit(counts) for bal in (False, True)}
    table: dict[str, dict[str, tuple[float, float]]] = {}
    for split, loader in (("val", dm.val_dataloader()), ("test", dm.test_dataloader())):
        probs, y, d, ids = collect(model, loader)
        k = probs.size(1)

        def score(weights):
            pred = (weights.unsqueeze(-1) * probs).sum(dim=1).argmax(dim=1)
            return float((pred == y).float().mean()), float(f1_score(y, pred, average="macro"))

        rows = {}
        if k == 1:
            rows["pooled net"] = score(torch.ones(len(y), 1))
        else:
            rows["uniform"] = score(torch.full((len(y), k), 1.0 / k))
            rows["oracle domain"] = score(F.one_hot(d, k).float())
            for bal, dbd in dbds.items():
                g = torch.cat([dbd(i) for i in ids]).double()
                for p in (1, 2, 4, 8, 16):
                    w = g.pow(p)
                    rows[f"DBD balance_domains={bal} sharpness={p}"] = score((w / w.sum(1, keepdim=True)).float())
                rows[f"DBD balance_domains={bal} argmax"] = score(F.one_hot(g.argmax(1), k).float())
                hit = g.argmax(1) == d
                per = [float(hit[d == j].float().mean()) for j in range(k)]
                rows[f"domain acc balance_domains={bal}"] = (float(hit.float().mean()), float("nan"))
                print(f"{split} domain acc balance_domains={bal} per domain {dm.domain_names}: "
                      f"{[round(v, 4) for v in per]}")
            for j, name in enumerate(dm.domain_names):
                sel = d == j
                rows[f"net {name} on its own domain"] = (float((probs[sel, j].argmax(1) == y[sel]).float().mean()),
                                                         float("nan"))
        if split == "val":
            with torch.no_grad():
                weights = torch.cat([model.mixing_weights(i)[1] for i in ids]).to(probs.dtype)
            mixed = (weights.unsqueeze(-1) * probs).sum(dim=1)
            pred = mixed.argmax(dim=1)
            print("val confusion (rows: true", dm.class_names, "):", confusion_matrix(y, pred).tolist())
            print("val per-class F1", [round(float(v), 4) for v in f1_score(y, pred, average=None)],
                  "macro recall", round(float(recall_score(y, pred, average="macro")), 4))
        for name, value in rows.items():
            table.setdefault(name, {})[split] = value
    print(f"{'variant':70s} {'val acc':>8s} {'val F1':>8s} {'test acc':>8s} {'test F1':>8s}")
    for name, values in table.items():
        print(f"{name:70s} {values['val'][0]:8.4f} {values['val'][1]:8.4f} {values['test'][0]:8.4f} {values['test'][1]:8.4f}")


if __name__ == "__main__":
    main()
