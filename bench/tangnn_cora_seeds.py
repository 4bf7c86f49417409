"""GCN, GAT and TANGNN on the Cora public split over several seeds, same script and budget.

    nice -n 10 python bench/tangnn_cora_seeds.py --seeds 0 1 2 3 4 --max-epochs 100

Each run is ``train.py experiment=<name>_cora seed=<s>`` (composed in-process, no logger): fit with
the experiment's early stopping, test the best-val-accuracy checkpoint. Writes the mean +- std test
accuracy table to ``bench/results/tangnn_cora_seeds.md``.
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

from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import open_dict  # noqa: E402

from zoo import cli  # noqa: E402

PUBLISHED = {"gcn_cora": "81.5", "gat_cora": "83.0", "tangnn_cora": "-"}


def run(experiment: str, seed: int, max_epochs: int | None, out: Path, overrides: tuple[str, ...] = ()) -> dict:
    """Train and test ``experiment=<experiment> seed=<seed> <overrides>`` in-process; return
    ``{"acc": test/acc (when logged), "metrics": every logged metric, "seconds": wall time}``."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = compose("train.yaml", overrides=[f"experiment={experiment}", f"seed={seed}", "logger=none", *overrides],
                      return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.root_dir = str(ROOT)
        cfg.paths.output_dir = str(out)
        cfg.paths.log_dir = str(out / "logs")
        cfg.paths.cache_dir = os.environ.get("ZOO_CACHE_DIR", str(ROOT / ".cache"))
        cfg.paths.work_dir = str(ROOT)
        if max_epochs is not None:
            cfg.trainer.max_epochs = max_epochs
        cfg.trainer.accelerator = "cpu"
        cfg.trainer.devices = 1
        cfg.trainer.enable_progress_bar = False
        cfg.trainer.enable_model_summary = False
        cfg.callbacks.progress_bar = None
        cfg.extras.print_config = False
        del cfg.hydra
    start = time.perf_counter()
    metrics, _ = cli.train(cfg)
    values = {k: float(v) for k, v in metrics.items()}
    return {"acc": values.get("test/acc"), "metrics": values, "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--max-epochs", type=int, default=None, help="override every experiment's max_epochs")
    parser.add_argument("--experiments", nargs="+", default=["gcn_cora", "gat_cora", "tangnn_cora"])
    parser.add_argument("--overrides", nargs="*", default=[], help="extra Hydra overrides for every run")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "tangnn_cora_seeds.md"))
    args = parser.parse_args()
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for experiment in args.experiments:
            for seed in args.seeds:
                r = run(experiment, seed, args.max_epochs, Path(tmp) / f"{experiment}_{seed}", tuple(args.overrides))
                results.setdefault(experiment, []).append(r)
                print(f"{experiment} seed={seed} test/acc={r['acc']:.4f} ({r['seconds']:.0f}s)", flush=True)
    budget = f"max_epochs={args.max_epochs}" if args.max_epochs is not None else "each experiment's max_epochs"
    lines = [
        "# Cora public split, test accuracy over seeds",
        "",
        f"Command: `nice -n 10 python bench/tangnn_cora_seeds.py --seeds {' '.join(map(str, args.seeds))}"
        + (f" --max-epochs {args.max_epochs}" if args.max_epochs is not None else "")
        + f" --experiments {' '.join(args.experiments)}"
        + (f" --overrides {' '.join(args.overrides)}" if args.overrides else "")
        + (f" --out {args.out}" if args.out != parser.get_default("out") else "") + "`",
        f"Budget: {budget}, early stopping as in each experiment, CPU (2 shared cores). "
        "Test accuracy of the best-val-accuracy checkpoint.",
        "",
        "| model | test acc (mean ± std) | seeds | per-seed | published | s/run |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for experiment, rs in results.items():
        accs = [100 * r["acc"] for r in rs]
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        lines.append(
            f"| {experiment} | {statistics.mean(accs):.2f} ± {std:.2f} | {len(accs)} | "
            f"{', '.join(f'{a:.1f}' for a in accs)} | {PUBLISHED.get(experiment, '-')} | "
            f"{statistics.mean(r['seconds'] for r in rs):.0f} |"
        )
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
