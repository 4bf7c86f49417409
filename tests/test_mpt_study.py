"""The whole model-update study (old -> reference -> no-treatment, PCT, MPT) on a tiny subset."""

from __future__ import annotations

import importlib.util

from tests.conftest import ROOT


def _study_module():
    spec = importlib.util.spec_from_file_location("mpt_study", ROOT / "bench" / "mpt_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_study_end_to_end_fast_dev_run(tmp_path):
    study = _study_module()
    out = tmp_path / "table.md"
    results = study.main(["--experiment", "mpt_fmnist", "--seeds", "0", "--fast-dev-run", "--in-process",
                          "--runs-dir", str(tmp_path / "runs"), "--out", str(out),
                          "data.datamodule.eval_batch_size=256"])
    for method in study.METHODS:
        (metrics,) = results[method]
        for key in ("test/acc", "test/old_acc", "test/nfr", "test/rnfr"):
            assert 0.0 <= metrics[key] or key == "test/rnfr", (method, key, metrics)
    # each update stage was fed the old stage's checkpoint (and MPT the reference's)
    assert (tmp_path / "runs" / "seed0" / "old" / "checkpoints").is_dir()
    assert "train/fd_ref" in results["MPT"][0] and "train/fd_old" in results["PCT"][0]
    assert "train/fd_old" not in results["no-treatment"][0]
    table = out.read_text()
    for row in ("| no-treatment |", "| PCT |", "| MPT |"):
        assert row in table
    # resuming reuses finished stages instead of training again
    again = study.main(["--experiment", "mpt_fmnist", "--seeds", "0", "--fast-dev-run", "--in-process", "--resume",
                        "--runs-dir", str(tmp_path / "runs"), "--out", str(out)])
    assert again["MPT"][0]["test/nfr"] == results["MPT"][0]["test/nfr"]
