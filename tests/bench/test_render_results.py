"""bench/render_results.py: tables rendered from results CSVs; stale tables are found and named."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.render_results import render_table, render_text
from bench.results_data import write_results
from tests.conftest import ROOT


@pytest.fixture
def results(tmp_path):
    rows = [{"setting": "gcn", "seed": s, "metric": "test/acc", "value": v} for s, v in enumerate([80.0, 82.0, 84.0])]
    rows += [{"setting": "gat", "metric": "test/acc", "value": 83.0},
             {"setting": "gat", "metric": "test/acc:std", "value": 0.5},
             {"setting": "gat", "metric": "s / run", "value": 96.4}]
    write_results("toy", rows, command="python bench/toy.py", commit="abc", results_dir=tmp_path)
    return tmp_path


def test_cells_aggregate_seeds_and_carry_std(results):
    table = render_table("toy", {"label": "model", "digits": "1;s / run=0", "seeds": "true"}, results_dir=results)
    assert table.splitlines() == [
        "| model | test/acc | s / run | seeds |",
        "| --- | --- | --- | --- |",
        "| gcn | 82.0 ± 2.0 | - | 3 |",  # sample std of 80, 82, 84
        "| gat | 83.0 ± 0.5 | 96 | - |",
    ]


def test_rows_by_seed_and_subsets(results):
    table = render_table("toy", {"cols": "seed", "settings": "gcn", "digits": "0"}, results_dir=results)
    assert table.splitlines()[0] == "| setting | 0 | 1 | 2 |"
    assert table.splitlines()[2] == "| gcn | 80 | 82 | 84 |"
    with pytest.raises(ValueError, match=r"metrics='nope'.*\['nope'\] not in toy.csv"):
        render_table("toy", {"metrics": "nope"}, results_dir=results)


def test_stale_table_is_named_and_rewritten(results):
    text = "intro\n<!-- results: toy digits=1 -->\n| old | table |\n<!-- /results -->\nafter\n"
    new, changed = render_text(text, source="page.md", results_dir=results)
    assert changed == ["toy (line 2)"]
    assert "| gcn | 82.0 ± 2.0 | - |" in new and new.endswith("<!-- /results -->\nafter\n")
    again, changed = render_text(new, source="page.md", results_dir=results)
    assert again == new and changed == []


def test_bad_markers_name_the_file(results):
    with pytest.raises(FileNotFoundError, match=r"page.md:1 \(missing\): no results file .*missing.csv"):
        render_text("<!-- results: missing -->\n<!-- /results -->\n", source="page.md", results_dir=results)
    with pytest.raises(ValueError, match="page.md:1: marker option 'colour=red'"):
        render_text("<!-- results: toy colour=red -->\n<!-- /results -->\n", source="page.md", results_dir=results)
    with pytest.raises(ValueError, match="without a closing"):
        render_text("<!-- results: toy -->\n", source="page.md", results_dir=results)


def test_repository_tables_match_their_data():
    """`make results-check` on the checkout: every rendered table agrees with bench/results."""
    out = subprocess.run([sys.executable, "bench/render_results.py", "--check"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "results tables match their data" in out.stdout


def test_inline_values(results):
    text = 'GCN reaches <!-- value: toy setting=gcn metric=test/acc digits=1 -->?<!-- /value --> here.\n'
    new, changed = render_text(text, source="README.md", results_dir=results)
    assert new == 'GCN reaches <!-- value: toy setting=gcn metric=test/acc digits=1 -->82.0 ± 2.0<!-- /value --> here.\n'
    assert changed == ["toy 'gcn' 'test/acc' (line 1)"]
    with pytest.raises(ValueError, match=r"README.md:1 \(toy\): settings='nope'"):
        render_text("<!-- value: toy setting=nope metric=test/acc -->x<!-- /value -->", source="README.md",
                    results_dir=results)


def test_results_index_lists_files_with_commands(results):
    new, changed = render_text("<!-- results-index -->\n<!-- /results-index -->\n", results_dir=results)
    assert "| `toy` | `python bench/toy.py` | abc |" in new and changed == ["results-index"]


def test_examples_in_code_are_left_alone(results):
    text = "```text\n<!-- results: NAME digits=1 -->\n<!-- /results -->\n```\nand `<!-- value: NAME setting=x -->`\n"
    assert render_text(text, results_dir=results) == (text, [])
