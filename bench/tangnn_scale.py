"""Scale of one TANGNN layer vs a dense full-graph attention layer, plus Cora epoch time vs PyG GAT.

    nice -n 10 python bench/tangnn_scale.py            # N = 1e3 .. 1e6, writes bench/results/tangnn_scale.md
    python bench/tangnn_scale.py --device cuda          # on a GPU, writes bench/results/tangnn_scale_cuda.md

Random graphs with N vertices, average in-degree 10 (10 N uniformly drawn directed edges) and 64
features. Each row is measured in a fresh subprocess: wall time of one forward + backward in
training mode (neighbour sampling on) and the growth of the process's peak resident memory over
the inputs (``ru_maxrss``). The dense layer (``nn.MultiheadAttention`` over all N vertices, the
O(N^2) attention the authors' code runs) is skipped where its N x N score matrices (x3: scores,
weights, their gradient) would need more than ``--dense-limit-gb``.

With ``--device cuda`` each row is the second forward + backward (the first loads the kernels),
timed with ``torch.cuda.synchronize``, and memory is the peak of ``torch.cuda.max_memory_allocated``
over the inputs. There ``nn.MultiheadAttention(need_weights=False)`` runs PyTorch's fused
(memory-efficient) attention kernel, which never stores the N x N scores: its memory is linear
in N and only its time is quadratic, so no size is skipped for memory; a row that runs out of GPU
memory says so.
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


def _measure(kind: str, n: int, features: int, degree: int, device: str, queue) -> None:
    import torch

    torch.manual_seed(0)
    x = torch.randn(n, features, requires_grad=False, device=device)
    edge_index = torch.randint(0, n, (2, degree * n), device=device)
    if kind == "tangnn":
        from zoo.nets.tangnn import TANGNNLayer

        layer = TANGNNLayer(in_channels=features, out_channels=features, top_m=20, heads=1, sample_size=5).to(device)

        def step():
            layer(x, edge_index).sum().backward()
    else:
        layer = torch.nn.MultiheadAttention(features, num_heads=1, batch_first=True).to(device)

        def step():
            h = x.unsqueeze(0)
            layer(h, h, h, need_weights=False)[0].sum().backward()
    layer.train()
    if device.startswith("cuda"):
        try:
            step()
            layer.zero_grad()
            torch.cuda.synchronize()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            step()
            torch.cuda.synchronize()
        except torch.cuda.OutOfMemoryError:
            queue.put(None)
            return
        queue.put((time.perf_counter() - start, (torch.cuda.max_memory_allocated() - base) / 2**20))
        return
    base = _rss_mb()
    start = time.perf_counter()
    step()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((seconds, max(0.0, peak - base)))


def measure(kind: str, n: int, features: int = 64, degree: int = 10, device: str = "cpu") -> tuple[float, float] | None:
    """(seconds, peak MB) of one forward + backward, or None where the GPU ran out of memory."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_measure, args=(kind, n, features, degree, device, queue))
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        raise RuntimeError(f"{kind} at N={n} exited with {proc.exitcode}")
    return queue.get()


def cora_epoch_times(repeats: int, device: str = "cpu") -> dict[str, float]:
    import torch
    import torch.nn.functional as F

    from zoo.data.planetoid import PlanetoidDataModule
    from zoo.nets.gnn_baselines import GAT, GCN
    from zoo.nets.tangnn import TANGNN
    from zoo.utils.resolvers import default_data_dir

    data = PlanetoidDataModule(root=f"{default_data_dir()}/planetoid", cache_dir=str(ROOT / ".cache" / "planetoid")).data
    data = data.to(device)
    nets = {
        "GCN (PyG)": GCN(in_channels=data.num_features, out_channels=7),
        "GAT (PyG, 8x8 heads)": GAT(in_channels=data.num_features, out_channels=7),
        "TANGNN-LC (64 hidden, m=30)": TANGNN(in_channels=data.num_features, out_channels=7, hidden_channels=64,
                                              top_m=30, lc=True, dropout=0.6),
        # the net of experiment=tangnn_cora
        "TANGNN-LC (3 x 512, gate, m=30)": TANGNN(in_channels=data.num_features, out_channels=7, hidden_channels=512,
                                                  num_layers=3, top_m=30, lc=True, dropout=0.8, combine="gate"),
    }
    synchronize = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    times = {}
    for name, net in nets.items():
        net = net.to(device)
        opt = torch.optim.Adam(net.parameters(), lr=0.005)
        runs = []
        for _ in range(repeats + 1):
            synchronize()
            start = time.perf_counter()
            net.train()
            opt.zero_grad()
            F.cross_entropy(net(data.x, data.edge_index)[data.train_mask], data.y[data.train_mask]).backward()
            opt.step()
            synchronize()
            runs.append(time.perf_counter() - start)
        times[name] = statistics.median(runs[1:])
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--dense-sizes", type=int, nargs="+", default=[1_000, 3_000, 10_000, 30_000, 100_000])
    parser.add_argument("--dense-limit-gb", type=float, default=6.0,
                        help="CPU only: skip dense rows whose unfused N x N scores would need more")
    parser.add_argument("--cora-repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    parser.add_argument("--out", default=None,
                        help="default: bench/results/tangnn_scale.md (cpu), tangnn_scale_cuda.md (cuda)")
    args = parser.parse_args()
    import torch

    cuda = args.device.startswith("cuda")
    argv = sys.argv[1:]  # the command without --out PATH / --out=PATH (where the table goes is not how it was made)
    kept = [a for i, a in enumerate(argv)
            if a != "--out" and not a.startswith("--out=") and not (i > 0 and argv[i - 1] == "--out")]
    command = " ".join(["python bench/tangnn_scale.py", *kept])
    out = args.out or str(ROOT / "bench" / "results" / ("tangnn_scale_cuda.md" if cuda else "tangnn_scale.md"))
    if cuda:
        if not torch.cuda.is_available():
            parser.error(f"--device {args.device}: torch {torch.__version__} sees no CUDA device")
        machine = f"`{command}` ({torch.cuda.get_device_name(args.device)}, torch {torch.__version__})."
        memory = "memory = peak of `torch.cuda.max_memory_allocated` over the inputs; the second of two steps is timed."
    else:
        machine = (f"`nice -n 10 {command}` (CPU, 2 cores shared with other jobs,"
                   f" torch {torch.__version__}, {torch.get_num_threads()} threads).")
        memory = "memory = growth of peak RSS over the inputs."
    lines = [
        "# TANGNN layer vs dense full-graph attention",
        "",
        f"Command: {machine}",
        f"Random graph, average degree 10, 64 features; one forward + backward in training mode; {memory}",
        "",
        "| layer | N | time (s) | peak MB |",
        "| --- | --- | --- | --- |",
    ]

    def row(kind: str, label: str, n: int) -> str:
        unfused_gb = 3 * n * n * 4 / 2**30  # float32 scores, weights and their gradient
        if not cuda and kind == "dense" and unfused_gb > args.dense_limit_gb:
            return f"| {label} | {n:,} | not run | unfused N^2 scores ~{unfused_gb:,.0f} GB |"
        result = measure(kind, n, device=args.device)
        if result is None:
            return f"| {label} | {n:,} | out of GPU memory | - |"
        return f"| {label} | {n:,} | {result[0]:.3f} | {result[1]:.0f} |"

    for n in args.sizes:
        lines.append(row("tangnn", "TANGNN (m=20, 5 sampled neighbours)", n))
        print(lines[-1], flush=True)
    dense_label = "dense attention (MultiheadAttention" + (", fused kernel)" if cuda else ")")
    for n in args.dense_sizes:
        lines.append(row("dense", dense_label, n))
        print(lines[-1], flush=True)
    lines += ["", f"## Cora: one training epoch (full batch, forward + backward + Adam step; median of {args.cora_repeats})",
              "", "| net | seconds / epoch |", "| --- | --- |"]
    for name, seconds in cora_epoch_times(args.cora_repeats, args.device).items():
        lines.append(f"| {name} | {seconds:.4f} |")
        print(lines[-1], flush=True)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
