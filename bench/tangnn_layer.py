"""Speed of zoo's TANGNN layer against the same layer composed from PyG, side by side in one process.

    nice -n 10 python bench/tangnn_layer.py                      # N = 1e4, 1e5, 1e6 and the Cora epoch
    nice -n 10 python bench/tangnn_layer.py --sizes 10000 100000 --skip-cora

**Layer.** One forward + backward in training mode of ``TANGNNLayer`` (64 features in and out, m = 20,
1 head, 5 sampled neighbours) and of what a PyG user composes for the same layer: PyG ``SAGEConv``
over all edges, plus a bare top-m attention (cosine scores against a learned vector, ``topk``, keys and
values gated by ``sigmoid(score)``, softmax over the m keys) and a linear mix of the two branches.
Random graphs with N vertices and 10 N uniformly drawn directed edges (average degree 10).

**Cora epoch.** One full-batch training step (forward + backward + Adam step) of the net of
``experiment=tangnn_cora`` and of ``experiment=tangnn_concat_cora``, against a two-layer PyG GAT
(``GATConv``, 8 heads of 8, dropout 0.6), each on the Cora public split.

zoo and PyG run alternately (a zoo step, then a PyG step, repeated), so both see the same machine
load; each row is the median over the repeats of the per-pair ratio zoo / PyG, with the median
seconds of each. Threads: ``--threads`` (default 2). Results: ``bench/results/tangnn_layer.csv``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from results_data import write_results  # noqa: E402


class BareTopM(nn.Module):
    """Top-m attention as written directly in torch: cosine score, topk, gated keys/values, softmax."""

    def __init__(self, channels: int, m: int) -> None:
        super().__init__()
        self.m = m
        self.a = nn.Parameter(torch.randn(channels) / math.sqrt(channels))
        self.q = nn.Linear(channels, channels, bias=False)
        self.k = nn.Linear(channels, channels, bias=False)
        self.v = nn.Linear(channels, channels, bias=False)
        self.o = nn.Linear(channels, channels)

    def forward(self, x):
        score = (x @ self.a) / (x.norm(dim=-1) * self.a.norm()).clamp_min(1e-8)
        top, index = score.topk(self.m)
        selected = x[index]
        key, value = self.k(selected), self.v(selected) * torch.sigmoid(top).unsqueeze(-1)
        weights = (self.q(x) @ key.t() / math.sqrt(x.size(1))).softmax(-1)
        return self.o(weights @ value)


class PyGLayer(nn.Module):
    """SAGEConv over every edge plus the bare top-m attention, mixed by a linear map."""

    def __init__(self, channels: int, m: int) -> None:
        from torch_geometric.nn import SAGEConv

        super().__init__()
        self.sage = SAGEConv(channels, channels)
        self.attention = BareTopM(channels, m)
        self.mix = nn.Linear(2 * channels, channels)

    def forward(self, x, edge_index):
        return self.mix(torch.cat([self.sage(x, edge_index), self.attention(x)], dim=-1))


class PyGGAT(nn.Module):
    """Two GATConv layers as in PyG's GAT example: 8 heads of 8 concatenated, one output head."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        from torch_geometric.nn import GATConv

        super().__init__()
        self.conv1 = GATConv(in_channels, 8, heads=8, dropout=0.6)
        self.conv2 = GATConv(64, out_channels, heads=1, concat=False, dropout=0.6)

    def forward(self, x, edge_index):
        x = F.dropout(x, p=0.6, training=self.training)
        x = F.elu(self.conv1(x, edge_index))
        x = F.dropout(x, p=0.6, training=self.training)
        return self.conv2(x, edge_index)


def _seconds(step) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def _pairs(zoo_step, pyg_step, repeats: int) -> tuple[list[float], list[float]]:
    """Warm each up once, then alternate: zoo, PyG, zoo, PyG, ..."""
    zoo_step()
    pyg_step()
    zoo, pyg = [], []
    for _ in range(repeats):
        zoo.append(_seconds(zoo_step))
        pyg.append(_seconds(pyg_step))
    return zoo, pyg


def _rows(setting: str, zoo: list[float], pyg: list[float]) -> list[dict]:
    ratios = [z / p for z, p in zip(zoo, pyg)]
    print(f"{setting:>32}  zoo {statistics.median(zoo):8.3f}s  PyG {statistics.median(pyg):8.3f}s  "
          f"zoo/PyG {statistics.median(ratios):5.2f}  (pairs: {', '.join(f'{r:.2f}' for r in ratios)})", flush=True)
    return [
        dict(setting=setting, metric="zoo_seconds_median", value=statistics.median(zoo)),
        dict(setting=setting, metric="pyg_seconds_median", value=statistics.median(pyg)),
        dict(setting=setting, metric="ratio_zoo_over_pyg_median", value=statistics.median(ratios)),
        dict(setting=setting, metric="repeats", value=len(ratios)),
    ]


def layer_rows(sizes: list[int], repeats: int, large_repeats: int) -> list[dict]:
    from zoo.nets.tangnn import TANGNNLayer

    rows = []
    for n in sizes:
        torch.manual_seed(0)
        x, edge_index = torch.randn(n, 64), torch.randint(0, n, (2, 10 * n))
        zoo = TANGNNLayer(in_channels=64, out_channels=64, top_m=20, heads=1, sample_size=5).train()
        pyg = PyGLayer(64, 20).train()
        zoo_times, pyg_times = _pairs(lambda: zoo(x, edge_index).sum().backward(),
                                      lambda: pyg(x, edge_index).sum().backward(),
                                      repeats if n < 1_000_000 else large_repeats)
        rows += _rows(f"layer N={n}", zoo_times, pyg_times)
    return rows


def cora_rows(repeats: int) -> list[dict]:
    from zoo.data.planetoid import PlanetoidDataModule
    from zoo.nets.tangnn import TANGNN
    from zoo.utils.resolvers import default_data_dir

    data = PlanetoidDataModule(root=f"{default_data_dir()}/planetoid", cache_dir=str(ROOT / ".cache" / "planetoid")).data

    def train_step(net, opt):
        def step():
            net.train()
            opt.zero_grad()
            F.cross_entropy(net(data.x, data.edge_index)[data.train_mask], data.y[data.train_mask]).backward()
            opt.step()
        return step

    torch.manual_seed(0)
    gat = PyGGAT(data.num_features, 7)
    gat_step = train_step(gat, torch.optim.Adam(gat.parameters(), lr=0.005, weight_decay=5e-4))
    nets = {  # the nets of the two shipped Cora experiments
        "cora epoch tangnn_cora (3 x 512, gate)": TANGNN(
            in_channels=data.num_features, out_channels=7, hidden_channels=512, num_layers=3, top_m=30,
            sample_size=5, dropout=0.8, lc=True, root_weight=False, combine="gate"),
        "cora epoch tangnn_concat_cora (2 x 64)": TANGNN(
            in_channels=data.num_features, out_channels=7, hidden_channels=64, num_layers=2, top_m=30,
            sample_size=5, dropout=0.6, lc=True, root_weight=False, combine="concat"),
    }
    rows = []
    for setting, net in nets.items():
        step = train_step(net, torch.optim.Adam(net.parameters(), lr=0.01, weight_decay=5e-4))
        rows += _rows(setting, *_pairs(step, gat_step, repeats))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=7, help="pairs per size below 1e6 and per Cora net")
    parser.add_argument("--large-repeats", type=int, default=3, help="pairs at N >= 1e6")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-cora", action="store_true")
    parser.add_argument("--out", default="tangnn_layer", help="results name under bench/results/")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    rows = []

    def save(new_rows):  # after every setting, so a long run that is stopped keeps what it measured
        rows.extend(dict(row, setting=f"{row['setting']}, {args.threads} threads") for row in new_rows)
        print("wrote", write_results(args.out, rows), flush=True)

    for n in args.sizes:
        save(layer_rows([n], args.repeats, args.large_repeats))
    if not args.skip_cora:
        save(cora_rows(args.repeats))


if __name__ == "__main__":
    main()
