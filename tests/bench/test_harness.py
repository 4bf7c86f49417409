"""bench/harness.py: a spec trains its settings for every seed, chains stages, writes one CSV."""

from __future__ import annotations

import pytest

from bench.harness import SPECS_DIR, load_spec, run_spec
from bench.results_data import read_results

FAST = ["trainer.accelerator=cpu", "trainer.max_epochs=1", "callbacks.early_stopping=null"]


def test_every_shipped_spec_loads():
    specs = sorted(SPECS_DIR.glob("*.yaml"))
    assert specs
    for path in specs:
        spec = load_spec(path)
        assert spec.name == path.stem and spec.settings and spec.metrics


def test_bad_specs_name_the_file_and_key(tmp_path):
    with pytest.raises(FileNotFoundError, match="no benchmark spec .*nope.yaml; specs in"):
        load_spec("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nmetrics: {test/acc: acc}\nsettings:\n  a: {experiment: gcn_cora, seed: 1}\n")
    with pytest.raises(ValueError, match=r"bad.yaml: settings.a: needs 'experiment' and only"):
        load_spec(bad)
    bad.write_text("name: bad\nmetrics: {test/acc: acc}\nsettings:\n  b: {experiment: gcn_cora, overrides: ['ckpt_path={last[a]}']}\n")
    with pytest.raises(ValueError, match="refers to 'a', which is not a setting defined before it"):
        load_spec(bad)


def test_two_seeds_and_a_chained_stage(tmp_path):
    spec_file = tmp_path / "toy.yaml"
    spec_file.write_text(
        "name: toy\nseeds: [0, 1]\n"
        f"overrides: {FAST}\n"
        "metrics:\n  test/acc: {name: test acc, scale: 100}\n"
        "time_metric: s/run\ncount_metric: seeds\nconstants:\n  gcn: {published: 81.5}\n"
        "settings:\n"
        "  gcn: {experiment: gcn_cora}\n"
        "  gcn, tested from its last checkpoint: {experiment: gcn_cora, overrides: [train=false, 'ckpt_path={last[gcn]}']}\n"
    )
    path = run_spec(load_spec(spec_file), results_dir=tmp_path, command="python bench/harness.py toy")
    rows = read_results(path)
    acc = {(r["setting"], r["seed"]): r["value"] for r in rows if r["metric"] == "test acc"}
    assert set(acc) == {("gcn", 0), ("gcn", 1), ("gcn, tested from its last checkpoint", 0),
                        ("gcn, tested from its last checkpoint", 1)}
    # the chained stage tests exactly the weights the first stage ended with (one epoch, no early stop)
    for seed in (0, 1):
        assert acc[("gcn, tested from its last checkpoint", seed)] == pytest.approx(acc[("gcn", seed)], abs=1e-9)
    assert all(0 <= v <= 100 for v in acc.values())
    assert {r["value"] for r in rows if r["metric"] == "seeds"} == {2.0}
    assert [r["value"] for r in rows if r["metric"] == "published"] == [81.5]
    assert {r["command"] for r in rows} == {"python bench/harness.py toy"}
