"""Render every results table in the docs and the README from ``bench/results/*.csv``.

A table is a marker pair in a markdown file; everything between the two lines is replaced::

    <!-- results: cora_baselines label=experiment digits="1;s / run (CPU)=0" -->
    | experiment | test acc | ... |
    <!-- /results -->

The first word after ``results:`` names ``bench/results/<NAME>.csv`` (written by
:func:`bench.results_data.write_results`). Options, ``key=value`` (quote values with spaces):

* ``rows`` / ``cols``: the CSV columns that index the table's rows and columns (default
  ``setting`` / ``metric``); ``rows=setting cols=seed`` lists one column per seed.
* ``metrics`` / ``settings``: ``|``-separated subsets (and order) of the column / row keys; default
  every key in file order.
* ``label``: the header of the first column (default: the ``rows`` column's name).
* ``digits``: decimals, ``"2"`` or ``"2;test/mae=3;s / run=0"`` (a default, then per-column values).
* ``seeds=true``: append the number of seeds behind each row.

A cell with several values (seeds) shows ``mean ± std`` (sample standard deviation); a metric
``<m>:std`` recorded without seed beside an aggregate ``<m>`` is shown as ``m ± std``; a missing
cell shows ``-``.

One number inside a sentence or a table cell is an inline pair on one line,
``<!-- value: NAME setting="gcn_cora" metric="test acc" digits=1 -->82.2 ± 1.0<!-- /value -->``:
the cell of that setting and metric, formatted as above.

``<!-- results-index -->`` ... ``<!-- /results-index -->`` lists every results file with the
commands and commits its rows record (the reproductions page).

``python bench/render_results.py`` rewrites the files in place (``make results``);
``--check`` re-renders in memory and exits 1 naming each file and table that differs
(``make results-check``).
"""

from __future__ import annotations

import argparse
import math
import re
import shlex
import statistics
import sys
from pathlib import Path
from typing import Iterable, Optional, Sequence

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results_data import RESULTS_DIR, read_results  # noqa: E402

__all__ = ["MARKER", "INLINE", "render_table", "render_value", "render_text", "markdown_files", "main"]

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"(?P<open><!-- results: (?P<spec>[^\n]*?) -->\n)(?P<body>.*?)(?P<close><!-- /results -->)",
                    re.DOTALL)
INLINE = re.compile(r"(?P<open>(?<!`)<!-- value: (?P<spec>[^\n]*?) -->)(?P<body>[^\n]*?)(?P<close><!-- /value -->)")
OPTIONS = ("rows", "cols", "metrics", "settings", "label", "digits", "seeds")
INLINE_OPTIONS = ("setting", "metric", "digits")
INDEX = re.compile(r"(?P<open><!-- results-index -->\n)(?P<body>.*?)(?P<close><!-- /results-index -->)", re.DOTALL)
STD_SUFFIX = ":std"


def _parse_spec(spec: str, where: str, allowed: Sequence[str] = OPTIONS) -> tuple[str, dict[str, str]]:
    try:
        words = shlex.split(spec)
    except ValueError as err:
        raise ValueError(f"{where}: cannot parse marker {spec!r}: {err}") from err
    if not words or "=" in words[0]:
        raise ValueError(f"{where}: marker {spec!r} names no results file (<!-- results: NAME ... -->)")
    options = {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep or key not in allowed:
            raise ValueError(f"{where}: marker option {word!r}; expected key=value with key one of {tuple(allowed)}")
        options[key] = value
    return words[0], options


def _digits(spec: Optional[str], where: str) -> tuple[int, dict[str, int]]:
    default, per = 2, {}
    if not spec:
        return default, per
    for part in spec.split(";"):
        key, sep, value = part.rpartition("=")
        try:
            if sep:
                per[key.strip()] = int(value)
            else:
                default = int(value)
        except ValueError as err:
            raise ValueError(f"{where}: digits={spec!r}: {part!r} is not an integer") from err
    return default, per


def _fmt(value: float, digits: int) -> str:
    if math.isnan(value):
        return "nan"
    return f"{value:,.{digits}f}" if abs(value) >= 10_000 else f"{value:.{digits}f}"


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|")


def _key(row: dict, column: str, where: str) -> str:
    if column not in row:
        raise ValueError(f"{where}: results have no column {column!r}; columns: {sorted(row)}")
    value = row[column]
    return "" if value is None else str(value)


def render_table(name: str, options: dict[str, str], *, results_dir: Path = RESULTS_DIR,
                 where: str = "") -> str:
    """The markdown table for ``results_dir/<name>.csv`` under ``options`` (see the module docstring).

    :raises FileNotFoundError: no such results file (the message names it and ``where``).
    :raises ValueError: an unknown column, metric or setting is asked for.
    """
    where = where or name
    path = Path(results_dir) / f"{name}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{where}: no results file {path}")
    rows = read_results(path)
    row_col, col_col = options.get("rows", "setting"), options.get("cols", "metric")
    cells: dict[tuple[str, str], list[float]] = {}
    stds: dict[tuple[str, str], float] = {}
    seeds: dict[str, set] = {}
    row_keys: list[str] = []
    col_keys: list[str] = []
    wanted_rows = options["settings"].split("|") if "settings" in options else None
    for row in rows:
        r, c = _key(row, row_col, where), _key(row, col_col, where)
        if r not in row_keys:
            row_keys.append(r)  # every setting, so a wrong `settings=` can list them
        if wanted_rows is not None and r not in wanted_rows:
            continue
        if col_col == "metric" and c.endswith(STD_SUFFIX):
            stds[(r, c[: -len(STD_SUFFIX)])] = row["value"]
            continue
        if c not in col_keys:
            col_keys.append(c)
        cells.setdefault((r, c), []).append(row["value"])
        if row["seed"] is not None:
            seeds.setdefault(r, set()).add(row["seed"])
    for option, keys in (("settings", row_keys), ("metrics", col_keys)):
        if option in options:
            wanted = [k for k in options[option].split("|")]
            unknown = [k for k in wanted if k not in keys]
            if unknown:
                raise ValueError(f"{where}: {option}={options[option]!r}: {unknown} not in {path.name} "
                                 f"(has {keys})")
            keys[:] = wanted
    default_digits, per_digits = _digits(options.get("digits"), where)
    show_seeds = options.get("seeds", "false").lower() in ("1", "true", "yes")
    header = [options.get("label", row_col), *col_keys] + (["seeds"] if show_seeds else [])
    lines = ["| " + " | ".join(_escape(h) for h in header) + " |", "|" + " --- |" * len(header)]
    for r in row_keys:
        out = [_escape(r)]
        for c in col_keys:
            values, digits = cells.get((r, c)), per_digits.get(c, default_digits)
            if not values:
                out.append("-")
            elif len(values) > 1:
                out.append(f"{_fmt(statistics.fmean(values), digits)} ± {_fmt(statistics.stdev(values), digits)}")
            elif (r, c) in stds:
                out.append(f"{_fmt(values[0], digits)} ± {_fmt(stds[(r, c)], digits)}")
            else:
                out.append(_fmt(values[0], digits))
        if show_seeds:
            out.append(str(len(seeds.get(r, ()))) if seeds.get(r) else "-")
        lines.append("| " + " | ".join(out) + " |")
    return "\n".join(lines) + "\n"


def render_value(name: str, options: dict[str, str], *, results_dir: Path = RESULTS_DIR, where: str = "") -> str:
    """One cell (``setting``, ``metric``) of ``results_dir/<name>.csv``, as :func:`render_table` shows it."""
    where = where or name
    missing = [key for key in ("setting", "metric") if key not in options]
    if missing:
        raise ValueError(f"{where}: an inline value needs {missing}")
    table = render_table(name, {"settings": options["setting"], "metrics": options["metric"],
                                "digits": options.get("digits", "2")}, results_dir=results_dir, where=where)
    cell = table.splitlines()[2].strip("| ").split(" | ")[-1]
    return cell.replace("\\|", "|")


def render_index(results_dir: Path = RESULTS_DIR) -> str:
    """A table of every ``results_dir/*.csv``: its name, the distinct commands and commits of its rows."""
    lines = ["| results file | command | commit |", "| --- | --- | --- |"]
    for path in sorted(Path(results_dir).glob("*.csv")):
        rows = read_results(path)
        commands = list(dict.fromkeys(row["command"] for row in rows))
        commits = list(dict.fromkeys(row["commit"] for row in rows))
        command = "<br>".join(f"`{_escape(c)}`" for c in commands)
        lines.append(f"| `{path.stem}` | {command} | {', '.join(commits)} |")
    return "\n".join(lines) + "\n"


FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.DOTALL | re.MULTILINE)


def render_text(text: str, *, source: str = "<text>", results_dir: Path = RESULTS_DIR) -> tuple[str, list[str]]:
    """``text`` with every marker's body re-rendered, and the names of the tables that changed.

    Markers inside fenced code blocks and inline code (examples of the syntax) are left alone.
    """
    fences: list[str] = []

    def hide(match: re.Match) -> str:
        fences.append(match.group(0))
        return f"\x00fence{len(fences) - 1}\x00"

    hidden = FENCE.sub(hide, text)
    rendered, changed = _render_unfenced(hidden, source=source, results_dir=results_dir)
    return re.sub("\x00fence(\\d+)\x00", lambda m: fences[int(m.group(1))], rendered), changed


def _render_unfenced(text: str, *, source: str, results_dir: Path) -> tuple[str, list[str]]:
    changed: list[str] = []

    def replace(match: re.Match) -> str:
        line = text.count("\n", 0, match.start()) + 1
        name, options = _parse_spec(match["spec"], f"{source}:{line}")
        table = render_table(name, options, results_dir=results_dir, where=f"{source}:{line} ({name})")
        if table != match["body"]:
            changed.append(f"{name} (line {line})")
        return match["open"] + table + match["close"]

    def replace_value(match: re.Match) -> str:
        line = text.count("\n", 0, match.start()) + 1
        name, options = _parse_spec(match["spec"], f"{source}:{line}", INLINE_OPTIONS)
        value = render_value(name, options, results_dir=results_dir, where=f"{source}:{line} ({name})")
        if value != match["body"]:
            changed.append(f"{name} {options.get('setting')!r} {options.get('metric')!r} (line {line})")
        return match["open"] + value + match["close"]

    for opener, pattern, closer in (("<!-- results:", MARKER, "<!-- /results -->"), ("<!-- value:", INLINE, "<!-- /value -->")):
        stray = len(re.findall(f"(?<!`){re.escape(opener)}", text)) - len(pattern.findall(text))
        if stray:
            raise ValueError(f"{source}: {stray} '{opener} ... -->' marker(s) without a closing '{closer}'")
    text_out = MARKER.sub(replace, text)

    def replace_index(match: re.Match) -> str:
        table = render_index(results_dir)
        if table != match["body"]:
            changed.append("results-index")
        return match["open"] + table + match["close"]

    text_out = INDEX.sub(replace_index, text_out)
    text = text_out  # line numbers of inline values refer to the rendered text
    return INLINE.sub(replace_value, text_out), changed


def markdown_files(root: Path = ROOT) -> list[Path]:
    """The files whose markers are rendered: README.md, docs/**/*.md, research/**/*.md, bench/**/*.md."""
    files = [root / "README.md"] if (root / "README.md").is_file() else []
    for folder in ("docs", "research", "bench"):
        files += sorted((root / folder).rglob("*.md")) if (root / folder).is_dir() else []
    return files


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail when a table differs from its data")
    parser.add_argument("files", nargs="*", type=Path, help="markdown files (default: README, docs, research, bench)")
    args = parser.parse_args(argv)
    files: Iterable[Path] = args.files or markdown_files()
    stale, tables = [], 0
    for path in files:
        text = path.read_text()
        rel = path.resolve().relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path
        new, changed = render_text(text, source=str(rel))
        unfenced = FENCE.sub("", text)
        tables += len(MARKER.findall(unfenced)) + len(INLINE.findall(unfenced)) + len(INDEX.findall(unfenced))
        if changed:
            stale += [f"{rel}: {name}" for name in changed]
            if not args.check:
                path.write_text(new)
    if args.check:
        if stale:
            print("results tables that disagree with bench/results (run `make results`):", *stale, sep="\n  ",
                  file=sys.stderr)
            return 1
        print(f"{tables} results tables match their data")
    else:
        print(f"{tables} results tables rendered, {len(stale)} rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
