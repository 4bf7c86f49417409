"""Merge result files of ``bench/har_utd_mhad.py`` runs made one seed per process into one table.

    python bench/har_merge_seeds.py "TITLE" OUT.md RUN_SEED0.md RUN_SEED1.md RUN_SEED2.md

Reads each file's ``Raw:`` line (per-row lists of test accuracy and macro-F1), concatenates the lists
row by row in the order given, and writes mean ± std with the per-seed values, followed by each run's
budget line and command, then the per-row ``train.py`` commands of the first run (the same in every
run but for ``seed``/``data.seed`` and the checkpoint folder).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))  # these scripts ran from bench/

from har_utd_mhad import REFERENCE, fmt  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("title")
    parser.add_argument("out")
    parser.add_argument("runs", nargs="+", help="result files written by bench/har_utd_mhad.py")
    args = parser.parse_args()
    rows: dict[str, dict[str, list[float]]] = {}
    runs: list[tuple[str, str]] = []
    row_commands: list[str] = []
    for path in args.runs:
        text = Path(path).read_text()
        if "Raw: " not in text:
            raise SystemExit(f"{path}: no 'Raw:' line; not a bench/har_utd_mhad.py result file")
        for row, entry in json.loads(text.split("Raw: ", 1)[1]).items():
            merged = rows.setdefault(row, {"acc": [], "f1": []})
            merged["acc"] += entry["acc"]
            merged["f1"] += entry["f1"]
        lines = text.splitlines()
        runs.append((next(l for l in lines if l.startswith("Budget:")), next(l for l in lines if l.startswith("Run as"))))
        row_commands = row_commands or [l for l in lines if l.startswith("- ")]
    out = [f"# {args.title}", "",
           f"Merged by `bench/har_merge_seeds.py` from {len(args.runs)} runs of `bench/har_utd_mhad.py`; each run's "
           "budget and command follow the table.", "",
           "| method | test acc | test macro-F1 | per-run acc | seeds |", "| --- | --- | --- | --- | --- |"]
    for row, entry in rows.items():
        per_run = " / ".join(f"{100 * a:.2f}" for a in entry["acc"])
        out.append(f"| {row} | {fmt(entry['acc'])} | {fmt(entry['f1'])} | {per_run} | {len(entry['acc'])} |")
    out += ["", REFERENCE, "", "## The runs", ""]
    for budget, command in runs:
        out += [budget, "", command, ""]
    out += ["Per-row commands (first run):", "", *row_commands, ""]
    out.append("Raw: " + json.dumps(rows))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(out) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
