"""Scale of one TANGNN layer vs a dense full-graph attention layer, plus Cora epoch time vs PyG GAT.

    nice -n 10 python bench/tangnn_scale.py            # N = 1e3 .. 1e6, writes bench/results/tangnn_scale.md

Random graphs with N vertices, average in-degree 10 (10 N uniformly drawn directed edges) and 64
features. Each row is measured in a fresh subprocess: wall time of one forward + backward in
training mode (neighbour sampling on) and the growth of the process's peak resident memory over
the inputs (``ru_maxrss``). The dense layer (``nn.MultiheadAttention`` over all N vertices, the
O(N^2) attention the authors' code runs) is skipped where its N x N score matrices (x3: scores,
weights, their gradient) would need more than ``--dense-limit-gb``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def _measure(kind: str, n: int, features: int, degree: int, queue) -> None:
    import torch

    torch.manual_seed(0)
    x = torch.randn(n, features, requires_grad=False)
    edge_index = torch.randint(0, n, (2, degree * n))
    if kind == "tangnn":
        from zoo.nets.tangnn import TANGNNLayer

        layer = TANGNNLayer(in_channels=features, out_channels=features, top_m=20, heads=1, sample_size=5)

        def step():
            layer(x, edge_index).sum().backward()
    else:
        layer = torch.nn.MultiheadAttention(features, num_heads=1, batch_first=True)

        def step():
            h = x.unsqueeze(0)
            layer(h, h, h, need_weights=False)[0].sum().backward()
    layer.train()
    base = _rss_mb()
    start = time.perf_counter()
    step()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((seconds, max(0.0, peak - base)))


def measure(kind: str, n: int, features: int = 64, degree: int = 10) -> tuple[float, float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_measure, args=(kind, n, features, degree, queue))
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        raise RuntimeError(f"{kind} at N={n} exited with {proc.exitcode}")
    return queue.get()


def cora_epoch_times(repeats: int) -> dict[str, float]:
    import torch
    import torch.nn.functional as F

    from zoo.data.planetoid import PlanetoidDataModule
    from zoo.nets.gnn_baselines import GAT, GCN
    from zoo.nets.tangnn import TANGNN
    from zoo.utils.resolvers import default_data_dir

    data = PlanetoidDataModule(root=f"{default_data_dir()}/planetoid", cache_dir=str(ROOT / ".cache" / "planetoid")).data
    nets = {
        "GCN (PyG)": GCN(in_channels=data.num_features, out_channels=7),
        "GAT (PyG, 8x8 heads)": GAT(in_channels=data.num_features, out_channels=7),
        "TANGNN-LC (64 hidden, m=30)": TANGNN(in_channels=data.num_features, out_channels=7, hidden_channels=64,
                                              top_m=30, lc=True, dropout=0.6),
    }
    times = {}
    for name, net in nets.items():
        opt = torch.optim.Adam(net.parameters(), lr=0.005)
        runs = []
        for _ in range(repeats + 1):
            start = time.perf_counter()
            net.train()
            opt.zero_grad()
            F.cross_entropy(net(data.x, data.edge_index)[data.train_mask], data.y[data.train_mask]).backward()
            opt.step()
            runs.append(time.perf_counter() - start)
        times[name] = statistics.median(runs[1:])
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--dense-sizes", type=int, nargs="+", default=[1_000, 3_000, 10_000, 30_000, 100_000])
    parser.add_argument("--dense-limit-gb", type=float, default=6.0)
    parser.add_argument("--cora-repeats", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "tangnn_scale.md"))
    args = parser.parse_args()
    import torch

    lines = [
        "# TANGNN layer vs dense full-graph attention",
        "",
        "Command: `nice -n 10 python bench/tangnn_scale.py` (CPU, 2 cores shared with other jobs,"
        f" torch {torch.__version__}, {torch.get_num_threads()} threads).",
        "Random graph, average degree 10, 64 features; one forward + backward in training mode;"
        " memory = growth of peak RSS over the inputs.",
        "",
        "| layer | N | time (s) | peak MB |",
        "| --- | --- | --- | --- |",
    ]
    for n in args.sizes:
        seconds, mb = measure("tangnn", n)
        lines.append(f"| TANGNN (m=20, 5 sampled neighbours) | {n:,} | {seconds:.3f} | {mb:.0f} |")
        print(lines[-1], flush=True)
    for n in args.dense_sizes:
        need_gb = 3 * n * n * 4 / 2**30
        if need_gb > args.dense_limit_gb:
            lines.append(f"| dense attention (MultiheadAttention) | {n:,} | not run | unfused N^2 scores ~{need_gb:,.0f} GB |")
        else:
            seconds, mb = measure("dense", n)
            lines.append(f"| dense attention (MultiheadAttention) | {n:,} | {seconds:.3f} | {mb:.0f} |")
        print(lines[-1], flush=True)
    lines += ["", f"## Cora: one training epoch (full batch, forward + backward + Adam step; median of {args.cora_repeats})",
              "", "| net | seconds / epoch |", "| --- | --- |"]
    for name, seconds in cora_epoch_times(args.cora_repeats).items():
        lines.append(f"| {name} | {seconds:.3f} |")
        print(lines[-1], flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
