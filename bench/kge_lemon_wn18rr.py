"""LEMON against uniform negatives on WN18RR validation at a CPU budget; the rule is in research/lemon.md.

    nice -n 10 python bench/kge_lemon_wn18rr.py --seeds 0 1 2 --epochs 2

Writes bench/results/lemon_wn18rr_val.csv: rows (arm, seed, val_mrr) and, per LEMON arm, the paired
difference to uniform over the seeds (mean, standard error) and the verdict (1 better, -1 worse, 0 tie).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from kge_common import build, evaluate, fit  # noqa: E402
from results_data import write_results

ARMS = {"uniform": ["model/sampler=uniform"],
        "lemon": ["model/sampler=lemon"],
        "lemon_cos": ["model/sampler=lemon", "model.sampler.min_cosine=0.5"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--negatives", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--arms", nargs="+", default=list(ARMS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows, mrr = [], {}
    for seed in args.seeds:
        for arm in args.arms:
            overrides = ["experiment=uniform_wn18rr", *ARMS[arm], f"model.net.embedding_dim={args.dim}",
                         f"model.sampler.num_negatives={args.negatives}", f"model.optimizer.lr={args.lr}",
                         "model.loss.adversarial_temperature=1.0", f"model.sampler.seed={seed}",
                         f"data.seed={seed}", f"seed={seed}", "logger=none", "data.eval_batch_size=256"]
            start = time.time()
            _, dm, task = build(overrides)
            fit(dm, task, args.epochs)
            values, _ = evaluate(dm, task, split="valid")
            mrr[arm, seed] = values["mrr"]
            rows.append(dict(setting=arm, seed=seed, metric="val_mrr", value=values["mrr"]))
            print(arm, seed, values, f"{time.time() - start:.0f}s", flush=True)
            write_results("lemon_wn18rr_val", rows)  # partial results survive an interrupted run
    for arm in args.arms:
        if arm == "uniform":
            continue
        diffs = [mrr[arm, s] - mrr["uniform", s] for s in args.seeds]
        mean = statistics.mean(diffs)
        se = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("inf")
        verdict = 0 if abs(mean) <= se else (1 if mean > 0 else -1)
        rows += [dict(setting=f"{arm}-uniform", metric="val_mrr_paired_mean_diff", value=mean),
                 dict(setting=f"{arm}-uniform", metric="val_mrr_paired_se", value=se),
                 dict(setting=f"{arm}-uniform", metric="verdict", value=verdict)]
        print(arm, "- uniform:", mean, "+-", se, "verdict", verdict)
    print(write_results("lemon_wn18rr_val", rows))


if __name__ == "__main__":
    main()
