"""Helpers shared by the KGE benchmarks: build zoo's datamodule + task from the real config tree,
train with Lightning while timing the training loop, and time the filtered evaluation."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("ZOO_DATA_DIR", str((ROOT / ".." / "shared" / "data").resolve()))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from lightning.pytorch import Callback, Trainer  # noqa: E402
from omegaconf import open_dict  # noqa: E402

from zoo import cli  # noqa: E402

SHARED = Path(os.environ["ZOO_DATA_DIR"])


def build(overrides: list[str], out_dir: str = "/tmp/zoo_kge_bench"):
    """``(cfg, datamodule, task)`` for ``train.yaml`` + ``overrides``."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = compose(config_name="train.yaml", overrides=overrides, return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.root_dir = str(ROOT)
        cfg.paths.output_dir = out_dir
        cfg.paths.cache_dir = os.environ.get("ZOO_CACHE_DIR", str(ROOT / ".cache"))
        del cfg.hydra
    if cfg.get("seed") is not None:
        import lightning as L

        L.seed_everything(cfg.seed, workers=True)
    datamodule, task = cli._build(cfg)
    return cfg, datamodule, task


class EpochTimer(Callback):
    """Wall time of the training epochs only (no validation, no start-up)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.triples = 0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.triples += len(batch)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.seconds += time.perf_counter() - self._start


def fit(datamodule, task, epochs: int, accelerator: str = "cpu", limit_train_batches=None) -> EpochTimer:
    """Train ``epochs`` epochs without validation or checkpoints; returns the timer."""
    timer = EpochTimer()
    trainer = Trainer(max_epochs=epochs, accelerator=accelerator, devices=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                      num_sanity_val_steps=0, callbacks=[timer], limit_train_batches=limit_train_batches)
    trainer.fit(task, datamodule=datamodule)
    return timer


@torch.no_grad()
def evaluate(datamodule, task, split: str = "test", limit: int | None = None) -> tuple[dict[str, float], float]:
    """Filtered realistic MRR/MR/Hits@k of ``split`` (its first ``limit`` triples) and the wall seconds it took."""
    from zoo.metrics.filter_index import FilterIndex
    from zoo.metrics.rank_based_metrics import RankBasedMetrics

    task.eval()
    start = time.perf_counter()
    if task.filter_index is None:
        task.filter_index = FilterIndex(datamodule.all_triples, datamodule.num_entities, datamodule.num_relations)
    metric = RankBasedMetrics()
    loader = datamodule.test_dataloader() if split == "test" else datamodule.val_dataloader()
    seen = 0
    for batch in loader:
        if limit is not None:
            if seen >= limit:
                break
            batch = batch[: limit - seen]
            seen += len(batch)
        head, tail = task.rank_batch(batch[:, :3])
        metric.update(batch[:, 3], head, tail)
    values = {k: float(v) for k, v in metric.compute().items()}
    return values, time.perf_counter() - start


def write_table(name: str, header: str, rows: list[list], notes: str = "") -> Path:
    path = ROOT / "bench" / "results" / f"{name}.md"
    cols = header.split("|")
    lines = ["| " + " | ".join(c.strip() for c in cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        lines.append("| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row) + " |")
    path.write_text((notes.strip() + "\n\n" if notes else "") + "\n".join(lines) + "\n")
    print(path.read_text())
    return path
