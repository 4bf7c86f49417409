"""Benchmark results as data: one CSV per benchmark under ``bench/results/``.

Every benchmark writes its measurements through :func:`write_results`, one row per
``(setting, seed, metric)``, with the command that produced them and the commit it ran at. The
tables in the docs are generated from these files, never typed by hand.

Columns: ``setting, seed, metric, value, command, commit``. ``seed`` is empty for measurements that
have none (a timing ratio, a published reference); ``value`` is a float.
"""

from __future__ import annotations

import csv
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

__all__ = ["RESULTS_DIR", "COLUMNS", "write_results", "read_results", "current_commit", "current_command"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
COLUMNS = ("setting", "seed", "metric", "value", "command", "commit")


def current_commit() -> str:
    """The checkout's commit (``+dirty`` when the work tree has uncommitted changes), or ``unknown``."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, check=True,
                                capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def current_command(drop_options: Iterable[str] = ("--out",)) -> str:
    """``python <script> <args>`` as run, without options that only say where results go."""
    argv, kept, skip = sys.argv[1:], [], False
    dropped = tuple(drop_options)
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in dropped:
            skip = True
            continue
        if any(arg.startswith(f"{opt}=") for opt in dropped):
            continue
        kept.append(arg)
    script = os.path.relpath(sys.argv[0], Path(__file__).resolve().parents[1])
    return shlex.join(["python", script, *kept])


def write_results(name: str, rows: Iterable[Mapping[str, Any]], *, command: Optional[str] = None,
                  commit: Optional[str] = None, results_dir: Optional[Path] = None) -> Path:
    """Write ``rows`` (each with ``setting``, ``metric``, ``value`` and optionally ``seed``) to
    ``<results_dir>/<name>.csv``, replacing the file atomically.

    :raises ValueError: a row lacks ``setting``, ``metric`` or ``value``, or its value is not a number.
    """
    command = command if command is not None else current_command()
    commit = commit if commit is not None else current_commit()
    out_dir = Path(results_dir) if results_dir is not None else RESULTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.csv"
    records = []
    for i, row in enumerate(rows):
        missing = [key for key in ("setting", "metric", "value") if key not in row]
        if missing:
            raise ValueError(f"{name}: row {i} lacks {missing}: {dict(row)!r}")
        try:
            value = float(row["value"])
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name}: row {i} value {row['value']!r} is not a number") from err
        seed = row.get("seed")
        records.append({"setting": str(row["setting"]), "seed": "" if seed is None else str(seed),
                        "metric": str(row["metric"]), "value": repr(value),
                        "command": str(row.get("command", command)), "commit": str(row.get("commit", commit))})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(records)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


def read_results(name_or_path: str | Path) -> list[dict[str, Any]]:
    """Rows of a results file (by benchmark name or path), ``value`` as float and ``seed`` as int or None.

    :raises FileNotFoundError: naming the file.
    :raises ValueError: naming the file and row when a column is missing or a value is not a number.
    """
    path = Path(name_or_path)
    if path.suffix != ".csv":
        path = RESULTS_DIR / f"{name_or_path}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"no results file {path}")
    rows = []
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or set(COLUMNS) - set(reader.fieldnames):
            raise ValueError(f"{path}: header {reader.fieldnames} lacks some of {list(COLUMNS)}")
        for line, row in enumerate(reader, start=2):
            try:
                row["value"] = float(row["value"])
                row["seed"] = int(row["seed"]) if row["seed"] not in ("", None) else None
            except ValueError as err:
                raise ValueError(f"{path}:{line}: {err}") from err
            rows.append(row)
    return rows
