"""The benchmark runner: compose experiments with overrides, train N seeds, write the results file.

    python bench/harness.py SPEC [--seeds 0 1 2] [--settings A B] [--override key=value ...] [--name NAME]

``SPEC`` is a YAML file in ``bench/specs/`` (by name or path)::

    name: cora_baselines                 # -> bench/results/cora_baselines.csv
    seeds: [0, 1, 2, 3, 4]
    overrides: [trainer.accelerator=cpu] # on every run
    metrics:                             # logged metric -> results metric (scale: a factor)
      test/acc: {name: "test acc (mean ± std)", scale: 100}
    time_metric: "s / run (CPU)"         # optional: wall seconds per run
    count_metric: seeds                  # optional: the number of seeds, one row per setting
    constants:                           # optional: rows without a seed (published numbers)
      gcn_cora: {published: 81.5}
    settings:                            # one results setting per entry, run in this order
      gcn_cora: {experiment: gcn_cora}
      gcn_cora, eval only: {experiment: gcn_cora, overrides: [train=false, "ckpt_path={last[gcn_cora]}"],
                            record: true}

A setting's overrides may name a checkpoint of an earlier setting trained with the same seed:
``{best[SETTING]}`` (the best checkpoint by the monitored metric) or ``{last[SETTING]}`` (the final
``last.ckpt``), which chains stages (pre-training -> linear evaluation, old model -> update).
``record: false`` runs a stage without writing its metrics. Each run is a normal
:func:`zoo.cli.train` of the composed ``train.yaml``, in a temporary run directory (``--keep DIR``
keeps them). Rows go through :func:`bench.results_data.write_results`, with the command as run.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml  # noqa: E402

from bench.results_data import current_command, write_results  # noqa: E402

__all__ = ["Setting", "Spec", "load_spec", "train_once", "run_spec", "main"]

ROOT = Path(__file__).resolve().parents[1]
SPECS_DIR = Path(__file__).resolve().parent / "specs"
CKPT_REF = re.compile(r"\{(best|last)\[([^\]]+)\]\}")
SPEC_KEYS = {"name", "seeds", "overrides", "metrics", "time_metric", "count_metric", "constants", "settings",
             "description"}
SETTING_KEYS = {"experiment", "overrides", "record"}


@dataclass
class Setting:
    """One row of the results table: an experiment, its overrides, whether its metrics are written."""

    name: str
    experiment: str
    overrides: list[str] = field(default_factory=list)
    record: bool = True


@dataclass
class Spec:
    """A benchmark: its settings, seeds, common overrides and which metrics it records."""

    name: str
    settings: list[Setting]
    metrics: dict[str, dict[str, Any]]
    seeds: list[int] = field(default_factory=lambda: [0])
    overrides: list[str] = field(default_factory=list)
    time_metric: Optional[str] = None
    count_metric: Optional[str] = None
    constants: dict[str, dict[str, float]] = field(default_factory=dict)


def load_spec(name_or_path: str | Path) -> Spec:
    """Read ``bench/specs/<name>.yaml`` (or a path).

    :raises FileNotFoundError: no such spec (the message lists the specs there are).
    :raises ValueError: an unknown key, a setting without ``experiment``, a reference to a setting
        not defined before it; the message names the file and the key.
    """
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = SPECS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in SPECS_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"no benchmark spec {path}; specs in {SPECS_DIR}: {known}")
    raw = yaml.safe_load(path.read_text()) or {}
    unknown = set(raw) - SPEC_KEYS
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}; expected some of {sorted(SPEC_KEYS)}")
    for key in ("name", "settings", "metrics"):
        if key not in raw:
            raise ValueError(f"{path}: '{key}' is required")
    settings: list[Setting] = []
    for name, entry in raw["settings"].items():
        entry = entry or {}
        bad = set(entry) - SETTING_KEYS
        if bad or "experiment" not in entry:
            raise ValueError(f"{path}: settings.{name}: needs 'experiment' and only {sorted(SETTING_KEYS)}; got {sorted(entry)}")
        overrides = [str(o) for o in entry.get("overrides", [])]
        for override in overrides:
            for _, ref in CKPT_REF.findall(override):
                if ref not in [s.name for s in settings]:
                    raise ValueError(f"{path}: settings.{name}: {override!r} refers to {ref!r}, which is not a "
                                     f"setting defined before it ({[s.name for s in settings]})")
        settings.append(Setting(str(name), str(entry["experiment"]), overrides, bool(entry.get("record", True))))
    metrics = {str(k): ({"name": v} if isinstance(v, str) else dict(v)) for k, v in raw["metrics"].items()}
    for logged, info in metrics.items():
        if "name" not in info:
            info["name"] = logged
    return Spec(name=str(raw["name"]), settings=settings, metrics=metrics, seeds=[int(s) for s in raw.get("seeds", [0])],
                overrides=[str(o) for o in raw.get("overrides", [])], time_metric=raw.get("time_metric"),
                count_metric=raw.get("count_metric"),
                constants={str(k): {str(m): float(v) for m, v in d.items()} for k, d in (raw.get("constants") or {}).items()})


def train_once(experiment: str, overrides: Sequence[str], seed: int, run_dir: Path) -> tuple[dict[str, float], dict[str, str], float]:
    """Compose ``train.yaml`` with ``experiment``, ``seed`` and ``overrides`` and train it in ``run_dir``.

    :returns: the run's metrics, its checkpoints (``best``, ``last``; empty strings when absent) and
        its wall time in seconds.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from lightning.pytorch.callbacks import ModelCheckpoint
    from omegaconf import open_dict

    from zoo import cli
    from zoo.console import config_dir

    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        cfg = compose("train.yaml", overrides=[f"experiment={experiment}", f"seed={seed}", "logger=none",
                                               "extras.print_config=false", *overrides], return_hydra_config=True)
    HydraConfig().set_config(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)
        cfg.trainer.enable_progress_bar = False
        cfg.trainer.enable_model_summary = False
        if cfg.get("callbacks") and "progress_bar" in cfg.callbacks:
            cfg.callbacks.progress_bar = None
        del cfg.hydra
    start = time.perf_counter()
    metrics, objects = cli.train(cfg)
    seconds = time.perf_counter() - start
    callback = objects["trainer"].checkpoint_callback
    best = callback.best_model_path if isinstance(callback, ModelCheckpoint) else ""
    lasts = sorted(run_dir.rglob("last.ckpt"))
    return {k: float(v) for k, v in metrics.items()}, {"best": best or "", "last": str(lasts[-1]) if lasts else ""}, seconds


def _resolve(override: str, checkpoints: dict[str, dict[str, str]], setting: str) -> str:
    def replace(match: re.Match) -> str:
        kind, ref = match.groups()
        path = checkpoints.get(ref, {}).get(kind, "")
        if not path:
            raise ValueError(f"setting {setting!r}: {match.group(0)} is empty: {ref!r} wrote no {kind} checkpoint")
        return path
    return CKPT_REF.sub(replace, override)


def run_spec(spec: Spec, *, seeds: Optional[Sequence[int]] = None, only: Optional[Sequence[str]] = None,
             extra_overrides: Sequence[str] = (), name: Optional[str] = None, results_dir: Optional[Path] = None,
             keep: Optional[Path] = None, command: Optional[str] = None) -> Path:
    """Train every setting of ``spec`` for every seed and write ``<results_dir>/<name>.csv``.

    ``only`` restricts the settings (the stages they reference still run, unrecorded).
    :raises ValueError: ``only`` names an unknown setting, or a logged metric the spec records is missing.
    """
    seeds = list(spec.seeds if seeds is None else seeds)
    names = [s.name for s in spec.settings]
    wanted = set(names if not only else only)
    if wanted - set(names):
        raise ValueError(f"{spec.name}: unknown settings {sorted(wanted - set(names))}; the spec has {names}")
    needed = set(wanted)
    for setting in reversed(spec.settings):  # the stages a wanted setting reads from run too
        if setting.name in needed:
            needed |= {ref for o in setting.overrides for _, ref in CKPT_REF.findall(o)}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix=f"bench_{spec.name}_") as tmp:
        base = Path(keep) if keep is not None else Path(tmp)
        for seed in seeds:
            checkpoints: dict[str, dict[str, str]] = {}
            for index, setting in enumerate(spec.settings):
                if setting.name not in needed:
                    continue
                overrides = [*spec.overrides, *(_resolve(o, checkpoints, setting.name) for o in setting.overrides),
                             *extra_overrides]
                print(f"[{spec.name}] seed {seed}: {setting.name}: experiment={setting.experiment} {' '.join(overrides)}",
                      flush=True)
                metrics, checkpoints[setting.name], seconds = train_once(
                    setting.experiment, overrides, seed, base / f"seed{seed}" / f"{index:02d}")
                if not (setting.record and setting.name in wanted):
                    continue
                for logged, info in spec.metrics.items():
                    if logged not in metrics:
                        if info.get("optional"):
                            continue
                        raise ValueError(f"{spec.name}: setting {setting.name!r} logged no {logged!r}; "
                                         f"logged: {sorted(metrics)}")
                    rows.append({"setting": setting.name, "seed": seed, "metric": info["name"],
                                 "value": metrics[logged] * float(info.get("scale", 1.0))})
                if spec.time_metric:
                    rows.append({"setting": setting.name, "seed": seed, "metric": spec.time_metric, "value": seconds})
    if spec.count_metric:
        rows += [{"setting": s.name, "metric": spec.count_metric, "value": len(seeds)}
                 for s in spec.settings if s.record and s.name in wanted]
    for setting, values in spec.constants.items():
        if setting in wanted:
            rows += [{"setting": setting, "metric": metric, "value": value} for metric, value in values.items()]
    return write_results(name or spec.name, rows, command=command, results_dir=results_dir)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", help="a spec in bench/specs/ (name or path)")
    parser.add_argument("--seeds", type=int, nargs="+", help="default: the spec's seeds")
    parser.add_argument("--settings", nargs="+", help="only these settings (default: all)")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="appended to every run's overrides (repeatable)")
    parser.add_argument("--name", help="results file name (default: the spec's name)")
    parser.add_argument("--keep", type=Path, help="keep the run directories here")
    args = parser.parse_args(argv)
    spec = load_spec(args.spec)
    path = run_spec(spec, seeds=args.seeds, only=args.settings, extra_overrides=args.override, name=args.name,
                    keep=args.keep, command=current_command(drop_options=("--keep",)))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
