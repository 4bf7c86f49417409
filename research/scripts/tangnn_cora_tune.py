"""Validation-only hyperparameter probe for TANGNN on the Cora public split.

    nice -n 10 python bench/tangnn_cora_tune.py --seeds 100 101 102 --grid base 'sample_size=None' ...

Each grid entry is ``base``, ``gat`` or ``gcn`` (the baselines' configs, for reference) or a comma-separated list of ``key=value`` overrides of the net (``TANGNN``
constructor keys) or of ``lr``, ``weight_decay``, ``max_epochs``, ``patience``, ``attention_off`` (ablation: the
top-m branch outputs zeros). Each run trains
full batch with Adam and cross-entropy on the 140 training nodes, like ``NodeClassificationTask``,
stops early on the validation loss, and reports the validation accuracy of the best-val-accuracy
epoch (the checkpoint the bench tests). Test accuracy is never computed here, so choices made from
this table cannot leak the test set. Results are appended to ``bench/results/tangnn_cora_tune.md``.

``--resplit`` (larger validation set, paired seeds):

    nice -n 10 python bench/tangnn_cora_tune.py --resplit --seeds 200 201 ... --grid gat base ...

each seed draws its own split of Cora from the nodes outside the public test mask
(``PlanetoidDataModule(split="random", exclude_public_test=True, num_val=None, seed=seed)``: 20
training nodes per class, every other non-public-test node, ~1,568, as validation) and initialises
every grid entry with the same seed; the loop runs seed by seed with the entries interleaved, so each
entry sees the same splits. The public test nodes stay in the graph unlabelled and are never trained
on or scored. The table adds each entry's paired per-seed difference to the ``gat`` entry (mean and
standard error). Ctrl-C writes the table of the seeds completed so far.
"""

from __future__ import annotations

import argparse
import ast
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from zoo.data.planetoid import PlanetoidDataModule  # noqa: E402
from zoo.nets.gnn_baselines import GAT, GCN  # noqa: E402
from zoo.nets.tangnn import TANGNN  # noqa: E402

BASE = dict(hidden_channels=64, num_layers=2, top_m=30, heads=1, sample_size=5, dropout=0.6,
            attention_dropout=0.0, lc=True, root_weight=False)
TRAIN = dict(lr=0.01, weight_decay=5e-4, max_epochs=200, patience=50, attention_off=False)
# the GAT baseline's net and optimiser (conf/model/net/gat.yaml, conf/experiment/gat_cora.yaml)
GAT_ENTRY = "gat"
GAT_NET = dict(hidden_channels=8, heads=8, out_heads=1, dropout=0.6)
GAT_TRAIN = dict(lr=0.005, weight_decay=5e-4, max_epochs=300, patience=100, attention_off=False)
# the GCN baseline (conf/model/net/gcn.yaml, conf/experiment/gcn_cora.yaml)
GCN_ENTRY = "gcn"
GCN_NET = dict(hidden_channels=16, dropout=0.5)
GCN_TRAIN = dict(lr=0.01, weight_decay=5e-4, max_epochs=200, patience=50, attention_off=False)


def parse(entry: str) -> tuple[dict, dict]:
    if entry == GAT_ENTRY:
        return dict(GAT_NET), dict(GAT_TRAIN)
    if entry == GCN_ENTRY:
        return dict(GCN_NET), dict(GCN_TRAIN)
    net, train = dict(BASE), dict(TRAIN)
    if entry != "base":
        for item in entry.split(","):
            key, value = item.split("=", 1)
            value = ast.literal_eval(value)
            (train if key in TRAIN else net)[key] = value
    return net, train


def run(data, net_kwargs: dict, train: dict, seed: int) -> tuple[float, int]:
    torch.manual_seed(seed)
    cls = GAT if "out_heads" in net_kwargs else GCN if "top_m" not in net_kwargs else TANGNN
    net = cls(in_channels=data.num_features, out_channels=int(data.y.max()) + 1, **net_kwargs)
    if train["attention_off"]:  # diagnostic ablation: zero the top-m branch (neighbourhood part only)
        for layer in net.layers:
            layer.attention.forward = lambda x, batch=None, generator=None, _l=layer.attention: x.new_zeros(
                x.size(0), _l.out_channels)
    opt = torch.optim.Adam(net.parameters(), lr=train["lr"], weight_decay=train["weight_decay"])
    best_acc, best_epoch, best_loss, bad = -1.0, -1, float("inf"), 0
    for epoch in range(train["max_epochs"]):
        net.train()
        opt.zero_grad()
        out = net(data.x, data.edge_index)
        F.cross_entropy(out[data.train_mask], data.y[data.train_mask]).backward()
        opt.step()
        net.eval()
        with torch.no_grad():
            out = net(data.x, data.edge_index)[data.val_mask]
        loss = F.cross_entropy(out, data.y[data.val_mask]).item()
        acc = (out.argmax(-1) == data.y[data.val_mask]).float().mean().item()
        if acc > best_acc:
            best_acc, best_epoch = acc, epoch
        if loss < best_loss:
            best_loss, bad = loss, 0
        else:
            bad += 1
            if bad >= train["patience"]:
                break
    return best_acc, best_epoch


def datamodule(**kwargs) -> PlanetoidDataModule:
    return PlanetoidDataModule(root=os.environ.get("ZOO_DATA_DIR", "/work/shared/data") + "/planetoid",
                               cache_dir=os.environ.get("ZOO_CACHE_DIR", str(ROOT / ".cache")) + "/planetoid",
                               download=False, **kwargs)


def resplit_data(seed: int):
    """Cora with a fresh seeded train/val split drawn outside the public test mask (see module doc)."""
    return datamodule(split="random", exclude_public_test=True, num_val=None, seed=seed).data


def resplit(args) -> None:
    """Seed-major loop over ``args.grid`` on per-seed resplits; append the paired table to ``args.out``."""
    accs: dict[str, list[float]] = {entry: [] for entry in args.grid}
    epochs: dict[str, list[int]] = {entry: [] for entry in args.grid}
    secs: dict[str, float] = {entry: 0.0 for entry in args.grid}
    done: list[int] = []
    try:
        for seed in args.seeds:
            data = resplit_data(seed)
            row = {}
            for entry in args.grid:
                net_kwargs, train = parse(entry)
                start = time.perf_counter()
                row[entry] = run(data, net_kwargs, train, seed) + (time.perf_counter() - start,)
                print(f"seed={seed} {entry}: val acc {100 * row[entry][0]:.2f} (n_val={int(data.val_mask.sum())}, "
                      f"epoch {row[entry][1]}, {row[entry][2]:.0f}s)", flush=True)
            for entry, (acc, epoch, sec) in row.items():  # only complete seeds count (paired)
                accs[entry].append(100 * acc)
                epochs[entry].append(epoch)
                secs[entry] += sec
            done.append(seed)
    except KeyboardInterrupt:
        print(f"interrupted: table over the {len(done)} complete seeds", flush=True)
    if not done:
        return
    ref = accs.get(GAT_ENTRY)
    lines = [f"\nResplit ({len(done)} seeds: {' '.join(map(str, done))}; val = every non-public-test node outside "
             "the 140 training nodes)\n",
             "| overrides | val acc | paired diff vs gat (mean ± s.e.) | wins/ties/losses vs gat | per-seed val acc "
             "| best epoch | s/run |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for entry in args.grid:
        a = accs[entry]
        std = statistics.stdev(a) if len(a) > 1 else 0.0
        if ref is not None and entry != GAT_ENTRY:
            diff = [x - y for x, y in zip(a, ref)]
            se = statistics.stdev(diff) / len(diff) ** 0.5 if len(diff) > 1 else 0.0
            paired = f"{statistics.mean(diff):+.2f} ± {se:.2f}"
            wtl = "/".join(str(sum(f(d) for d in diff)) for f in (lambda d: d > 0, lambda d: d == 0, lambda d: d < 0))
        else:
            paired, wtl = "-", "-"
        lines.append(f"| {entry} | {statistics.mean(a):.2f} ± {std:.2f} | {paired} | {wtl} | "
                     f"{' '.join(f'{x:.1f}' for x in a)} | {statistics.mean(epochs[entry]):.0f} | "
                     f"{secs[entry] / len(done):.0f} |")
    print("\n".join(lines), flush=True)
    with Path(args.out).open("a") as f:
        f.write("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[100, 101, 102])
    parser.add_argument("--grid", nargs="+", default=["base"])
    parser.add_argument("--resplit", action="store_true",
                        help="per-seed random train/val split outside the public test nodes, paired table vs gat")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "tangnn_cora_tune.md"))
    args = parser.parse_args()
    if args.resplit:
        resplit(args)
        return
    data = datamodule().data
    out = Path(args.out)
    if not out.exists():
        out.write_text(
            "# TANGNN on Cora: validation-only probe (no test accuracy computed)\n\n"
            "Command: `nice -n 10 python bench/tangnn_cora_tune.py --seeds <seeds> --grid <entries>`; "
            f"base = {BASE}, {TRAIN}.\n"
            "Val acc = accuracy of the best-val-accuracy epoch, mean ± std over the seeds.\n\n"
            "| overrides | val acc | seeds | best epoch | s/run |\n| --- | --- | --- | --- | --- |\n"
        )
    for entry in args.grid:
        net_kwargs, train = parse(entry)
        accs, epochs, start = [], [], time.perf_counter()
        for seed in args.seeds:
            acc, epoch = run(data, net_kwargs, train, seed)
            accs.append(100 * acc)
            epochs.append(epoch)
        secs = (time.perf_counter() - start) / len(args.seeds)
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        row = (f"| {entry} | {statistics.mean(accs):.2f} ± {std:.2f} | {' '.join(map(str, args.seeds))} | "
               f"{statistics.mean(epochs):.0f} | {secs:.0f} |")
        print(row, flush=True)
        with out.open("a") as f:
            f.write(row + "\n")


if __name__ == "__main__":
    main()
