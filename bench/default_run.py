"""The default run against the plain PyG script with the same schedule, as whole processes.

    nice -n 10 python bench/default_run.py --pairs 5

zoo: ``python train.py logger=none`` (GCN on Cora, 200 epochs: a train step and a validation pass
every epoch, checkpoints, early stopping, the progress bar, then the test at the best checkpoint).
Anchor: a plain PyG script doing the same (``--anchor``, default ``../shared/anchors/pyg_gcn_cora.py``:
GCN on Cora, 200 epochs, test accuracy at the best validation epoch).

Each pair runs zoo, then the anchor (the order alternates between pairs), each a fresh Python
process timed from start to exit, so start-up imports count. Rows: the median of the per-pair
ratios zoo / anchor and the median seconds of each. Results: ``bench/results/default_run.csv``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from results_data import write_results  # noqa: E402


def _run(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {done.returncode}:\n{done.stdout[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--anchor", default=str(ROOT / ".." / "shared" / "anchors" / "pyg_gcn_cora.py"))
    parser.add_argument("--out", default="default_run", help="results name under bench/results/")
    parser.add_argument("overrides", nargs="*", help="extra train.py overrides (default: none)")
    args = parser.parse_args()
    anchor = Path(args.anchor).resolve()
    if not anchor.is_file():
        raise SystemExit(f"--anchor {anchor}: no such file")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), HF_HUB_OFFLINE="1", WANDB_MODE="offline")
    zoo_times, anchor_times = [], []
    with tempfile.TemporaryDirectory() as logs:
        zoo = [sys.executable, "train.py", "logger=none", f"paths.log_dir={logs}", *args.overrides]
        plain = [sys.executable, str(anchor)]
        for i in range(args.pairs):
            first, second = (zoo, plain) if i % 2 == 0 else (plain, zoo)
            times = {id(first): _run(first, env), id(second): _run(second, env)}
            zoo_times.append(times[id(zoo)])
            anchor_times.append(times[id(plain)])
            print(f"pair {i}: zoo {zoo_times[-1]:.1f}s  PyG {anchor_times[-1]:.1f}s  "
                  f"ratio {zoo_times[-1] / anchor_times[-1]:.2f}", flush=True)
    ratios = [z / a for z, a in zip(zoo_times, anchor_times)]
    setting = "train.py logger=none" + "".join(f" {o}" for o in args.overrides) + " vs pyg_gcn_cora.py"
    rows = [
        dict(setting=setting, metric="zoo_seconds_median", value=statistics.median(zoo_times)),
        dict(setting=setting, metric="pyg_seconds_median", value=statistics.median(anchor_times)),
        dict(setting=setting, metric="ratio_zoo_over_pyg_median", value=statistics.median(ratios)),
        dict(setting=setting, metric="pairs", value=len(ratios)),
    ]
    print(f"median ratio zoo / PyG: {statistics.median(ratios):.2f}")
    print("wrote", write_results(args.out, rows))


if __name__ == "__main__":
    main()
