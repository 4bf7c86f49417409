"""One-off: the hand-written tables of ``bench/results/*.md`` -> ``bench/results/*.csv`` + markers.

Kept as a record of how the carried-over measurements were converted (it ran once, at the commit
that added it); not a maintained tool. For every table in ``bench/results/<name>.md``:

* the leading columns that make a row unique are the ``setting`` (joined by `` · ``);
* every other cell holding one number becomes a row ``(setting, metric=<column header>, value)``;
  a ``mean ± std`` cell becomes an aggregate row plus ``<metric>:std``, unless the row lists its
  per-seed values (a ``per seed`` / ``per-run`` column, or the ``Raw:`` JSON the HAR bench printed),
  in which case one row per seed is written and the aggregate is left to the renderer;
* cells that are text, ranges or several numbers (``124-156``, ``GCN 0.367, ...``) are listed as
  text below the table; the script prints how many it left per table;
* ``command`` is the record's ``Command:`` / ``Run as`` line, ``commit`` the commit that added the
  record (``git log --diff-filter=A``).

The record moves to ``docs/results/<name>.md`` with each table replaced by a ``<!-- results: ... -->``
marker, and ``bench/render_results.py`` renders it from the CSV.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.results_data import write_results  # noqa: E402

SRC = ROOT / "bench" / "results"
DST = ROOT / "docs" / "results"  # moved on to research/results/ afterwards
NUM = r"[-+]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?"
PM = re.compile(rf"^({NUM})\s*±\s*({NUM})$")
ONE = re.compile(rf"^({NUM})%?$")
PER_SEED = re.compile(r"per[- ](seed|run)", re.I)


def number(text: str) -> float:
    return float(text.replace(",", ""))


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def tables(lines: list[str]) -> list[tuple[int, int]]:
    """(start, end) line spans of the markdown tables (header, rule, rows)."""
    spans, i = [], 0
    while i < len(lines) - 1:
        if lines[i].startswith("|") and re.match(r"^\|[\s:|-]+\|$", lines[i + 1].strip()):
            j = i + 2
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            spans.append((i, j))
            i = j
        else:
            i += 1
    return spans


def first_commit(path: Path) -> str:
    out = subprocess.run(["git", "log", "--diff-filter=A", "--format=%h", "--", str(path.relative_to(ROOT))],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return out[-1] if out else "unknown"


def command_of(text: str) -> str:
    for pattern in (r"Command: `([^`]+)`", r"Run as `([^`]+)`", r"`((?:nice -n 10 |OMP_NUM_THREADS=1 )*python bench/[^`]+)`"):
        match = re.search(pattern, text)
        if match:
            return match.group(1)
    return "unrecorded"


def seeds_of(text: str) -> list[int] | None:
    match = re.search(r"seeds \[([\d, ]+)\]", text) or re.search(r"--seeds ((?:\d+ ?)+)", text)
    if not match:
        return None
    return [int(s) for s in re.split(r"[,\s]+", match.group(1).strip()) if s]


def key_width(header: list[str], body: list[list[str]]) -> int:
    width = 1
    while width < len(header) and len({tuple(r[:width]) for r in body}) < len(body):
        width += 1
    return width


def convert(path: Path) -> None:
    text = path.read_text()
    lines = text.split("\n")
    raw = None
    raw_line = next((i for i, l in enumerate(lines) if l.startswith("Raw: {")), None)
    if raw_line is not None:
        raw = json.loads(lines[raw_line][len("Raw: "):])
    seeds = seeds_of(text)
    command, commit = command_of(text), first_commit(path)
    spans = tables(lines)
    out_lines, last = [], 0
    for k, (start, end) in enumerate(spans):
        name = path.stem if k == 0 else f"{path.stem}-t{k + 1}"
        header = [h.strip("`") for h in cells(lines[start])]
        body = [cells(l) for l in lines[start + 2:end]]
        body = [r + [""] * (len(header) - len(r)) for r in body]
        width = key_width(header, body)
        rows, left, digits, texts = [], 0, {}, []
        per_col = next((j for j, h in enumerate(header) if PER_SEED.search(h)), None)
        for r in body:
            setting = " · ".join(c.strip("`") for c in r[:width])
            pm_done = False
            for j in range(width, len(header)):
                metric, cell = header[j], r[j].strip().strip("*")
                if j == per_col:
                    continue
                m = PM.match(cell)
                if m:
                    digits[metric] = len(m.group(1).split(".")[1]) if "." in m.group(1) else 0
                    seed_values = None
                    if raw is not None and setting in raw:
                        key = {"test acc": "acc", "test macro-F1": "f1"}.get(metric)
                        if key in raw[setting]:
                            seed_values = [100 * v for v in raw[setting][key]]
                    elif per_col is not None and not pm_done:
                        parts = [p for p in re.split(r"\s*[,/]\s*", r[per_col]) if p]
                        if all(ONE.match(p) for p in parts) and len(parts) > 1:
                            seed_values = [number(p) for p in parts]
                    if seed_values is not None:
                        ids = seeds if seeds and len(seeds) == len(seed_values) else list(range(len(seed_values)))
                        rows += [{"setting": setting, "seed": s, "metric": metric, "value": v}
                                 for s, v in zip(ids, seed_values)]
                        pm_done = pm_done or raw is None
                    else:
                        rows.append({"setting": setting, "metric": metric, "value": number(m.group(1))})
                        rows.append({"setting": setting, "metric": metric + ":std", "value": number(m.group(2))})
                    continue
                m = ONE.match(cell)
                if m:
                    digits[metric] = len(m.group(1).split(".")[1]) if "." in m.group(1) else 0
                    rows.append({"setting": setting, "metric": metric, "value": number(m.group(1))})
                    continue
                if cell not in ("", "-", "n/a"):
                    left += 1
                    texts.append(f"{setting}, {metric}: {cell}")
        if path.stem == "tangnn_zinc_ablation":  # rows are seeds; cells "test / best val"
            rows, digits, left = [], {"test MAE": 4, "best val MAE": 4}, 0
            configs = ("tangnn_zinc", "model.net.attention=false")
            for r in body:
                if r[0] == "mean":
                    continue  # derived from the seed rows
                for config, cell in zip(configs, r[1:3]):
                    test, val = (number(v) for v in cell.split(" / "))
                    rows += [{"setting": config, "seed": int(r[0]), "metric": "test MAE", "value": test},
                             {"setting": config, "seed": int(r[0]), "metric": "best val MAE", "value": val}]
        write_results(name, rows, command=command, commit=commit)
        default = max(set(digits.values()), key=list(digits.values()).count) if digits else 2
        extra = ";".join(f"{m}={d}" for m, d in digits.items() if d != default)
        present = [h for h in header[width:] if any(row["metric"] == h for row in rows)]
        spec = (f'{name} label="{" · ".join(header[:width])}" metrics="{"|".join(present)}" '
                f'digits="{default}{";" + extra if extra else ""}"')
        if path.stem == "tangnn_zinc_ablation":
            spec = f'{name} label=configuration digits=4 seeds=true'
        out_lines += lines[last:start] + [f"<!-- results: {spec} -->", "<!-- /results -->"]
        if texts:  # cells that are not one number stay in the record as text
            out_lines += ["", "Text cells of this table (not in the data file):", ""] + [f"- {t}" for t in texts]
        last = end
        print(f"{name}: {len(rows)} rows, {left} text cells left in the prose; commit {commit}")
    out_lines += lines[last:]
    record = "\n".join(l for i, l in enumerate(out_lines) if not l.startswith("Raw: {"))
    DST.mkdir(parents=True, exist_ok=True)
    (DST / path.name).write_text(record)
    path.unlink()


if __name__ == "__main__":
    for md in sorted(SRC.glob("*.md")):
        convert(md)
