"""A Hydra callback writing a sweep's results table (params -> metric) when the sweep ends.

Works with every launcher (basic, ``hydra/launcher=local``, ``hydra/launcher=slurm``) and sweeper
(grid, Optuna): each job writes ``metrics.json`` into its own directory (``zoo.cli``), so the table
is rebuilt from the sweep directory, whichever process or machine ran the jobs. Writes
``<sweep dir>/summary.md`` and ``summary.csv`` and prints the table; a job without ``metrics.json``
(failed, cancelled) is listed with status ``missing``.

With a persistent Optuna study (``<sweep dir>/optuna.db``, :mod:`zoo.utils.optuna_study`) the table
covers every trial of the study, also those of earlier (killed, continued) runs of the search:
a trial without a job directory is ``missing``, one Optuna marked failed is ``failed``.

When ``seed`` is among the swept keys, ``summary_by_seed.md``/``.csv`` group the jobs by the other
swept keys: one row per configuration with the number of seeds and the metric's mean ± std
(sample standard deviation), e.g. ``-m experiment=gcn_cora,gat_cora seed=0,1,2`` gives one row per
experiment.
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

__all__ = ["SweepSummary", "collect_sweep", "format_table", "lower_is_better", "group_by_seed"]

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


def collect_sweep(sweep_dir: Path, metric: Optional[str],
                  trials: Optional[dict[int, str]] = None) -> tuple[list[str], list[dict[str, Any]]]:
    """Rows ``{"job", <swept key>..., <metric>, "status"}`` for every job dir under ``sweep_dir``.

    The parameter columns are the override keys whose values differ between jobs (all overrides
    when there is a single job).

    :param trials: ``{trial number: Optuna state}`` of the sweep's study (job ``n`` is trial ``n``):
        a trial without a job dir gets a ``missing`` row, a failed one the status ``failed``.
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
        if metrics is None and trials is not None and trials.get(_job_number(row["job"])) == "FAIL":
            row["status"] = "failed"
        rows.append(row)
    if trials is not None:
        seen = {_job_number(r["job"]) for r in rows}
        for number in sorted(set(trials) - seen):
            rows.append({"job": str(number), **{k: "" for k in keys}, metric or "metric": None,
                         "status": "failed" if trials[number] == "FAIL" else "missing"})
        rows.sort(key=lambda r: (_job_number(r["job"]) is None, _job_number(r["job"]) or 0, r["job"]))
    return keys, rows


def _job_number(job: str) -> Optional[int]:
    return int(job) if job.isdigit() else None


def group_by_seed(keys: list[str], rows: list[dict[str, Any]], metric: str) -> tuple[list[str], list[dict[str, Any]]]:
    """One row per configuration (the swept keys but ``seed``): ``seeds`` (jobs with a value),
    ``<metric> mean``, ``<metric> std`` (sample std; ``None`` for one seed) and ``<metric>`` as
    ``mean ± std``, in the order the configurations first appear."""
    group_keys = [k for k in keys if k != "seed"]
    groups: dict[tuple, list[float]] = {}
    for row in rows:
        values = groups.setdefault(tuple(row.get(k, "") for k in group_keys), [])
        value = row.get(metric)
        if isinstance(value, (int, float)) and not math.isnan(value):
            values.append(float(value))
    out = []
    for config, values in groups.items():
        n = len(values)
        mean = sum(values) / n if n else None
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
        shown = "" if mean is None else (f"{mean:.4g} ± {std:.2g}" if std is not None else f"{mean:.4g}")
        out.append({**dict(zip(group_keys, config)), "seeds": n, f"{metric} mean": mean, f"{metric} std": std,
                    metric: shown})
    return group_keys, out


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


def _cells(row: dict[str, Any], header: list[str]) -> list[str]:
    return ["" if row.get(h) is None else (f"{row[h]:.6g}" if isinstance(row[h], float) else str(row[h]))
            for h in header]


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
        trials = None
        if sweeper is not None and sweeper.get("storage") is not None:
            from zoo.utils.optuna_study import study_trials

            trials = study_trials(sweep_dir, sweeper.get("study_name"))
        keys, rows = collect_sweep(sweep_dir, metric, trials)
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
        if "seed" in keys:
            self._write_by_seed(sweep_dir, keys, rows, name)
        offline = sorted(sweep_dir.glob("*/wandb/offline-run-*"))
        if offline:
            print(f"W&B ran offline; upload the sweep with: wandb sync {sweep_dir}/*/wandb/offline-run-*", flush=True)

    def _write_by_seed(self, sweep_dir: Path, keys: list[str], rows: list[dict[str, Any]], metric: str) -> None:
        group_keys, grouped = group_by_seed(keys, rows, metric)
        header = [*group_keys, "seeds", metric]
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
        lines += ["| " + " | ".join(_cells(r, header)) + " |" for r in grouped]
        table = "\n".join(lines)
        stem = f"{self.filename}_by_seed"
        (sweep_dir / f"{stem}.md").write_text(
            f"# Sweep {sweep_dir}, grouped over seeds\n\n{metric}: mean ± sample std over seeds\n\n{table}\n")
        with (sweep_dir / f"{stem}.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=[*group_keys, "seeds", f"{metric} mean", f"{metric} std"],
                                    extrasaction="ignore")
            writer.writeheader()
            writer.writerows(grouped)
        print(f"\nOver seeds ({sweep_dir / (stem + '.md')}):\n{table}", flush=True)
