"""GCN and GAT on the Cora public split over several seeds: the foundation's reference numbers.

    python bench/cora_baselines.py [--seeds 0 1 2 3 4] [--experiments gcn_cora gat_cora]

Each run is a normal ``zoo.cli.train`` of the experiment preset (full schedule, CPU), composed
from the real config tree. Writes ``bench/results/cora_baselines.md``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from zoo import cli

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = {"gcn_cora": 0.815, "gat_cora": 0.830}


def run(experiment: str, seed: int, out: Path) -> tuple[float, float]:
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = compose("train.yaml", overrides=[f"experiment={experiment}", f"seed={seed}", "logger=none",
                                               "trainer.accelerator=cpu", "callbacks.progress_bar=null",
                                               "extras.print_config=false"], return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
        cfg.trainer.enable_progress_bar = False
        cfg.trainer.enable_model_summary = False
        del cfg.hydra
    start = time.perf_counter()
    metrics, _ = cli.train(cfg)
    return metrics["test/acc"], time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--experiments", nargs="+", default=["gcn_cora", "gat_cora"])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "cora_baselines.md")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for experiment in args.experiments:
            accs, secs = [], []
            for seed in args.seeds:
                acc, sec = run(experiment, seed, Path(tmp) / f"{experiment}_{seed}")
                accs.append(acc)
                secs.append(sec)
            std = statistics.stdev(accs) if len(accs) > 1 else 0.0
            rows.append((experiment, statistics.mean(accs), std, accs, statistics.mean(secs)))

    lines = [
        "| experiment | test acc (mean ± std) | per seed | published | s / run (CPU) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for experiment, mean, std, accs, sec in rows:
        published = PUBLISHED.get(experiment)
        lines.append(
            f"| `{experiment}` | {100 * mean:.1f} ± {100 * std:.1f} | "
            f"{', '.join(f'{100 * a:.1f}' for a in accs)} | "
            f"{'' if published is None else f'{100 * published:.1f}'} | {sec:.0f} |"
        )
    text = (
        f"Cora, public split (140/500/1000), seeds {args.seeds}, full schedules of the experiment presets.\n"
        f"Command: `python bench/cora_baselines.py --seeds {' '.join(map(str, args.seeds))}`\n\n"
        + "\n".join(lines) + "\n"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
