"""A Hydra callback writing a sweep's results table (params -> metric) when the sweep ends.

Works with every launcher (basic, ``hydra/launcher=local``, ``hydra/launcher=slurm``) and sweeper
(grid, Optuna): each job writes ``metrics.json`` into its own directory (``zoo.cli``), so the table
is rebuilt from the sweep directory, whichever process or machine ran the jobs. Writes
``<sweep dir>/summary.md`` and ``summary.csv`` and prints the table; a job without ``metrics.json``
(failed, cancelled) is listed with status ``missing``.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path
from typing import Any, Optional

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

__all__ = ["SweepSummary", "collect_sweep", "format_table", "lower_is_better"]

log = logging.getLogger(__name__)

#: metric-name fragments for which smaller is better (used when the sweeper gives no direction)
LOWER_IS_BETTER = ("loss", "mae", "mse", "rmse", "error", "err", "nfr", "/mr")


def lower_is_better(metric: str, direction: Optional[str] = None) -> bool:
    """``direction`` (``minimize``/``maximize``) when given, else guessed from the metric's name."""
    if direction is not None:
        return str(direction).lower().endswith("minimize")
    name = metric.lower()
    return any(name.endswith(frag) or f"{frag}_" in name or f"{frag}/" in name for frag in LOWER_IS_BETTER)


def _job_dirs(sweep_dir: Path) -> list[Path]:
    dirs = [p.parent.parent for p in sweep_dir.glob("**/.hydra/overrides.yaml")]
    return sorted(set(dirs), key=lambda p: (len(p.relative_to(sweep_dir).parts), str(p.relative_to(sweep_dir)).zfill(8)))


def collect_sweep(sweep_dir: Path, metric: Optional[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """Rows ``{"job", <swept key>..., <metric>, "status"}`` for every job dir under ``sweep_dir``.

    The parameter columns are the override keys whose values differ between jobs (all overrides
    when there is a single job).
    """
    jobs = []
    for job_dir in _job_dirs(sweep_dir):
        overrides = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text()) or []
        params = {}
        for item in overrides:
            key, _, value = str(item).partition("=")
            params[key.lstrip("+~")] = value
        metrics_file = job_dir / "metrics.json"
        metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else None
        jobs.append((job_dir, params, metrics))
    keys: list[str] = []
    for _, params, _ in jobs:
        keys += [k for k in params if k not in keys]
    if len(jobs) > 1:
        keys = [k for k in keys if len({p.get(k) for _, p, _ in jobs}) > 1]
    rows = []
    for job_dir, params, metrics in jobs:
        row: dict[str, Any] = {"job": str(job_dir.relative_to(sweep_dir))}
        row.update({k: params.get(k, "") for k in keys})
        value = None
        if metrics is not None and metric is not None:
            value = metrics.get(metric)
        row[metric or "metric"] = value
        row["status"] = "missing" if metrics is None else ("ok" if value is not None else f"no {metric}")
        rows.append(row)
    return keys, rows


def format_table(keys: list[str], rows: list[dict[str, Any]], metric: str, best: Optional[int]) -> str:
    """A markdown table; the best row is marked with ``*``."""
    header = ["job", *keys, metric, "status"]

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.6g}"
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    for i, row in enumerate(rows):
        values = [cell(row.get(h)) for h in header]
        if i == best:
            values[0] += " *"
        lines.append("| " + " | ".join(values) + " |")
    return "\n".join(lines)


class SweepSummary(Callback):
    """On ``on_multirun_end``: gather every job's metrics and write ``summary.md``/``summary.csv``.

    Args:
        filename: stem of the files written into the sweep directory (default: ``"summary"``).
    """

    def __init__(self, filename: str = "summary") -> None:
        self.filename = filename

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if not sweep_dir.is_dir():
            return
        metric = config.get("optimized_metric")
        direction = None
        sweeper = config.hydra.get("sweeper")
        if sweeper is not None and "direction" in sweeper:
            direction = str(sweeper.direction)
        keys, rows = collect_sweep(sweep_dir, metric)
        if not rows:
            return
        name = metric or "metric"
        scored = [(i, r[name]) for i, r in enumerate(rows) if isinstance(r[name], (int, float)) and not math.isnan(r[name])]
        best = None
        if scored:
            pick = min if lower_is_better(name, direction) else max
            best = pick(scored, key=lambda t: t[1])[0]
        table = format_table(keys, rows, name, best)
        (sweep_dir / f"{self.filename}.md").write_text(
            f"# Sweep {sweep_dir}\n\n{len(rows)} jobs; {name} (* = best)\n\n{table}\n"
        )
        with (sweep_dir / f"{self.filename}.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["job", *keys, name, "status"])
            writer.writeheader()
            writer.writerows(rows)
        print(f"\nSweep summary ({sweep_dir / (self.filename + '.md')}):\n{table}", flush=True)
        offline = sorted(sweep_dir.glob("*/wandb/offline-run-*"))
        if offline:
            print(f"W&B ran offline; upload the sweep with: wandb sync {sweep_dir}/*/wandb/offline-run-*", flush=True)
