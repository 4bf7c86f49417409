"""Validation-only comparison of linear-probe settings on frozen HAR encoders (UTD-MHAD, subject 7).

Evaluates each probe variant (Hydra overrides of ``experiment=har_linear_eval``) on the final
pre-training checkpoints of an earlier ``bench/har_utd_mhad.py`` run (``pre_<seed>_<method>``; each
checkpoint's stored config is checked against its pre-training command) with ``test=false``: only
``val/acc_best`` is computed, so a choice made from this table is blind to the test subjects.
Writes the mean validation accuracy per variant (over every seed and method) to ``--out``.

    nice -n 10 python bench/har_linear_probe_val.py --pretrained /tmp/har_bench_xxx --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))  # these scripts ran from bench/

from har_utd_mhad import CACHED_FEATURES, ROOT, pretrain_command, pretrain_methods, reuse_checkpoint, run  # noqa: E402


def hydra_literal(node) -> str:
    """A nested dict/list/scalar as a Hydra override value, e.g. ``{p:0.5,scale:0.2}``."""
    if isinstance(node, dict):
        return "{" + ",".join(f"{key}:{hydra_literal(value)}" for key, value in node.items()) + "}"
    if isinstance(node, list):
        return "[" + ",".join(hydra_literal(value) for value in node) + "]"
    return str(node)


# the datamodule config's (pre-training) augmentations, spelled out so that the augmented variant does not
# depend on what har_linear_eval sets
PRETRAINING_AUGMENTATIONS = "data.train_transforms=" + hydra_literal(
    OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "data" / "utd_mhad.yaml").train_transforms))


def probe(scaling: str, lr: str, modality_loss_weight: float = 0.0, augment: bool = False, *extra: str) -> list[str]:
    """Overrides of one probe variant; every knob the variants differ in is set explicitly, so a later
    change of the ``har_linear_eval`` defaults does not change what a variant measures. Without
    ``augment`` the features are computed once per recording and cached; with it the probe trains on
    the pre-training augmentations and recomputes the features every epoch."""
    features = ["model.cache_features=false", PRETRAINING_AUGMENTATIONS] if augment else CACHED_FEATURES
    return [f"model.modality_scaling={scaling}", f"model.optimizer.lr={lr}",
            f"model.modality_loss_weight={modality_loss_weight}", *features, *extra]


VARIANTS = {
    "no scaling, Adam 1e-3 (earlier default)": probe("null", "1e-3"),
    "no scaling, Adam 1e-2": probe("null", "1e-2"),
    "no scaling, Adam 1e-3, weight decay 0.1": probe("null", "1e-3", 0.0, False, "model.optimizer.weight_decay=0.1"),
    "sqrt_dim, Adam 1e-3": probe("sqrt_dim", "1e-3"),
    "sqrt_dim, Adam 1e-2": probe("sqrt_dim", "1e-2"),
    "l2, Adam 1e-3": probe("l2", "1e-3"),
    "l2, Adam 1e-2 (default before the per-modality loss)": probe("l2", "1e-2"),
    "l2, Adam 1e-2, per-modality loss 0.5": probe("l2", "1e-2", 0.5),
    "l2, Adam 1e-2, per-modality loss 1": probe("l2", "1e-2", 1.0),
    "l2, Adam 1e-2, per-modality loss 1, training augmentations": probe("l2", "1e-2", 1.0, True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrained", required=True, help="work folder of a bench/har_utd_mhad.py run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pretrain-epochs", type=int, default=18, help="epochs of the pre-training runs")
    parser.add_argument("--linear-epochs", type=int, default=50)
    parser.add_argument("--modalities", default="[skeleton,inertial]")
    parser.add_argument("--select", nargs="+", default=None, metavar="TEXT",
                        help="run only the variants whose name contains one of these texts (default: all)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "har_linear_probe_val.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="har_probe_"))
    methods = pretrain_methods()
    variants = {name: extra for name, extra in VARIANTS.items()
                if args.select is None or any(text in name for text in args.select)}
    if not variants:
        raise SystemExit(f"--select {args.select} matches none of the variants {list(VARIANTS)}")
    val: dict[str, list[float]] = {name: [] for name in variants}
    start = time.time()
    for seed in args.seeds:
        common = [f"seed={seed}", f"data.seed={seed}", "model.plot_tsne=false"]
        for key, (_, pre) in methods.items():
            pre_cmd = pretrain_command(pre, args.pretrain_epochs, common)
            ckpt = reuse_checkpoint(pre_cmd, Path(args.pretrained) / f"pre_{seed}_{key}", args.pretrain_epochs)
            for i, (name, extra) in enumerate(variants.items()):
                cmd = ["experiment=har_linear_eval", f"model.pretrained_ckpt={ckpt}", "test=false",
                       f"trainer.max_epochs={args.linear_epochs}", f"model.modalities={args.modalities}", *common, *extra]
                metrics, _ = run(cmd, work / f"{seed}_{key}_{i}")
                val[name].append(float(metrics["val/acc_best"]))
                print(f"[{time.time() - start:6.0f}s] seed {seed} {key} | {name}: val {val[name][-1]:.4f}", flush=True)
    lines = [
        "# Linear-probe settings on frozen UTD-MHAD encoders: validation accuracy only (subject 7)",
        "",
        f"Command: `nice -n 10 python bench/har_linear_probe_val.py --pretrained <folder> --seeds "
        f"{' '.join(map(str, args.seeds))} --pretrain-epochs {args.pretrain_epochs} --linear-epochs {args.linear_epochs} "
        f"--modalities {args.modalities}"
        + (f" --select {' '.join(repr(t) for t in args.select)}" if args.select else "")
        + f"` ({(time.time() - start) / 60:.1f} min). Checkpoints: the final "
        f"{args.pretrain_epochs}-epoch pre-training weights of CMC, hard-negative and label-aware hard-negative for "
        "each seed (the folder given to bench/har_utd_mhad.py --reuse-pretrained for the table they evaluate); "
        "every probe runs with `test=false`, so no test "
        "accuracy was computed. Mean ± std of `val/acc_best` (%) over every seed and method.",
        "",
        "| probe | val acc | runs |",
        "| --- | --- | --- |",
    ]
    for name, values in val.items():
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        lines.append(f"| {name} | {100 * statistics.fmean(values):.2f} ± {100 * std:.2f} | {len(values)} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
