"""Helpers for the cache tests: a pickle payload that leaves a marker, copies of the real data, one
loader per cache, and running work in parallel processes.

Kept free of heavy imports (no conftest, no zoo.cli): every spawned process imports this module.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import pickle
import shutil
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

SHARED_DATA = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()  # as tests/conftest.py
ZINC = SHARED_DATA / "molecules" / "zinc_subset"
CITATION = SHARED_DATA / "citation_sentiment"
CORA = SHARED_DATA / "planetoid" / "Cora" / "raw"
UTD = SHARED_DATA / "har" / "utd_mhad"
BLITZER = SHARED_DATA / "sentiment" / "blitzer_mdsd"




class Payload:
    """Unpickling this object runs ``touch <marker>``: a stand-in for any code an attacker would run."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def plant_pickle(path: str, marker: str) -> None:
    """Write a pickle payload under ``path`` (as ``torch.save`` would, a pickle inside)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump({"payload": Payload(marker)}, handle)


def _call(barrier, fn, args, queue, rank):
    try:
        barrier.wait(timeout=120)
        queue.put((rank, "ok", fn(*args)))
    except BaseException as err:  # noqa: BLE001 - reported to the parent
        import traceback

        queue.put((rank, "error", f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))


def run_in_processes(fn: Callable[..., Any], args: Sequence[tuple], timeout: float = 900,
                     method: str = "fork") -> list[Any]:
    """Run ``fn(*args[i])`` in ``len(args)`` processes released by one barrier, so they race; return
    their results in order. Any failure in a child fails the caller with its traceback.

    ``method="fork"`` (the fast default-suite checks) starts from this process' imports;
    ``"spawn"`` starts fresh interpreters, as two separate runs are (the ``multiprocess`` tests).
    """
    ctx = mp.get_context(method)
    barrier, queue = ctx.Barrier(len(args)), ctx.Queue()
    procs = [ctx.Process(target=_call, args=(barrier, fn, a, queue, i)) for i, a in enumerate(args)]
    for p in procs:
        p.start()
    results: dict[int, Any] = {}
    errors = []
    try:
        for _ in procs:
            rank, status, value = queue.get(timeout=timeout)
            if status == "ok":
                results[rank] = value
            else:
                errors.append(f"process {rank}: {value}")
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    if errors:
        raise AssertionError("\n".join(errors))
    return [results[i] for i in range(len(args))]


def _digest(*tensors) -> str:
    h = hashlib.sha256()
    for t in tensors:
        t = torch.as_tensor(t)
        h.update(str((t.dtype, tuple(t.shape))).encode())
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


def _entries(cache: Path) -> list[str]:
    """Cache files (no lock files); temporaries start with a dot and must never be left behind."""
    return sorted(n for n in os.listdir(cache) if not n.endswith(".lock"))


# -- copies of the real data in tmp_path -----------------------------------------------------------
def zinc_copy(tmp_path: Path, n: int = 300) -> Path:
    """The first ``n`` molecules of ZINC, split 60/20/20 %."""
    root = tmp_path / "zinc"
    root.mkdir()
    lines = (ZINC / "smiles_score.csv").read_text().splitlines()[: n + 1]
    (root / "smiles_score.csv").write_text("\n".join(lines) + "\n")
    train, val = int(0.6 * n), int(0.2 * n)
    rows = [f"{i},{train + i if i < val else ''},{train + val + i if i < n - train - val else ''}" for i in range(train)]
    (root / "indexes_train_val_test.csv").write_text("train,val,test\n" + "\n".join(rows) + "\n")
    return root


def cora_copy(tmp_path: Path) -> Path:
    root = tmp_path / "planetoid"
    shutil.copytree(CORA, root / "Cora" / "raw")
    for f in (root / "Cora" / "raw").iterdir():
        f.chmod(0o644)
    return root


def citation_copy(tmp_path: Path, rows: int = 600) -> tuple[Path, Path]:
    """The header and the first ``rows`` sentences of the Athar corpus, and the AAN metadata."""
    (tmp_path / "citation").mkdir()
    lines = (CITATION / "citation_sentiment_corpus.txt").read_text(encoding="utf-8").splitlines()
    header = [ln for ln in lines if ln.startswith("#")]
    body = [ln for ln in lines if ln.strip() and not ln.startswith("#")][:rows]
    corpus = tmp_path / "citation" / "corpus.txt"
    corpus.write_text("\n".join(header + body) + "\n", encoding="utf-8")
    meta = tmp_path / "citation" / "aan_acl-metadata.txt"
    os.symlink(CITATION / "aan_acl-metadata.txt", meta)
    return corpus, meta


def utd_copy(tmp_path: Path, actions: tuple[int, ...] = (1, 2)) -> Path:
    """Every recording of ``actions`` (all 8 subjects, so the subject split holds), as symlinks."""
    root = tmp_path / "utd"
    for kind, folder in (("skeleton", "Skeleton"), ("inertial", "Inertial")):
        (root / folder).mkdir(parents=True)
        for name in sorted(os.listdir(UTD / folder)):
            if name.endswith(f"_{kind}.mat") and int(name.split("_")[0][1:]) in actions:
                os.symlink(UTD / folder / name, root / folder / name)
    return root


def blitzer_copy(tmp_path: Path) -> Path:
    root = tmp_path / "blitzer"
    for path in (BLITZER / "sorted_data_acl").glob("*/*.review"):
        (root / "sorted_data_acl" / path.parent.name).mkdir(parents=True, exist_ok=True)
        os.symlink(path, root / "sorted_data_acl" / path.parent.name / path.name)
    return root


# -- one loader per cache: build (or read) it and return a digest of what a run gets ---------------
def load_zinc(root: str, cache: str) -> str:
    from zoo.data.zinc import ZincDataModule

    splits = ZincDataModule(root=root, cache_dir=cache).splits
    return _digest(*[t for s in ("train", "val", "test") for g in splits[s] for t in (g.x, g.edge_index, g.edge_attr, g.y)])


def load_citation(corpus: str, meta: str, cache: str) -> str:
    from zoo.data.citation_sentiment import CitationSentimentDataModule

    data = CitationSentimentDataModule(corpus_path=corpus, metadata_path=meta, cache_dir=cache, encoder="hashing").data
    return _digest(data.x, data.sentence_x, data.sentence_index, data.edge_index, data.sentence_y)


def load_planetoid(root: str, cache: str) -> str:
    from zoo.data.planetoid import PlanetoidDataModule

    data = PlanetoidDataModule(root=root, cache_dir=cache, download=False).data
    return _digest(data.x, data.edge_index, data.y, data.train_mask, data.val_mask, data.test_mask)


def load_multidomain(root: str, cache: str) -> str:
    from zoo.data.multidomain_text import MultiDomainTextDataModule

    dm = MultiDomainTextDataModule(source="blitzer_mdsd", root=root, cache_dir=cache, domains=["kitchen"],
                                   max_per_domain=400, vocab_size=500)
    dm.setup()
    ids = [torch.tensor(i, dtype=torch.long) for s in ("train", "val", "test") for i in dm.split(s).ids]
    return _digest(torch.tensor(sorted(dm.tokenizer.get_vocab().values())), *ids)


def load_utd(root: str, cache: str) -> str:
    from zoo.data.utd_mhad import UTDMHADDataModule

    arrays = UTDMHADDataModule(root=root, cache_dir=cache)._load()
    return _digest(*[torch.from_numpy(arrays[k]) for k in ("x_skeleton", "x_inertial", "labels", "subjects")])
