"""Every datamodule cache on copies of the real data: concurrent fills, planted files, changed raw files.

Two processes filling one cache at once must both succeed and read identical data; a pickle payload
planted under a cache name is refused (its marker file is never created); a raw file edited after
its cache was built (even to the same size and mtime) gets a new key and is read again. Also the
bad raw inputs that used to pass silently: truncated Blitzer ``.review`` files, empty/NaN ZINC
targets, truncated ``.gz`` IDX files, pickled user ``.npz`` arrays.
"""

from __future__ import annotations

import glob
import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from tests.data.cache_helpers import (
    BLITZER, CITATION, CORA, UTD, ZINC, Payload, _entries, blitzer_copy, citation_copy, cora_copy, load_citation,
    load_multidomain, load_planetoid, load_utd, load_zinc, plant_pickle, run_in_processes, utd_copy, zinc_copy,
)
from zoo.data.cache import CacheError

FASHION = Path("/usr/share/datasets/fashion-mnist")
needs = {name: pytest.mark.skipif(not path.exists(), reason=f"{path} not present")
         for name, path in (("zinc", ZINC), ("citation", CITATION), ("cora", CORA), ("utd", UTD),
                            ("blitzer", BLITZER), ("fashion", FASHION))}


# -- two processes filling one cache at once -------------------------------------------------------
def _assert_concurrent(tmp_path: Path, fn, args: tuple, cache: Path, pattern: str, method: str = "spawn") -> None:
    first, second = run_in_processes(fn, [args, args], method=method)
    assert first == second
    assert fn(*args) == first  # a later run reads the same entry
    names = _entries(cache)
    assert not [n for n in names if n.startswith(".")], f"temporary files left behind: {names}"
    assert len(glob.glob(str(cache / pattern))) == 1, names


@pytest.mark.multiprocess
@needs["cora"]
def test_planetoid_concurrent_processing(tmp_path):
    # fresh interpreters: a fork of the whole test session (threads, a W&B service) can deadlock
    root, cache = cora_copy(tmp_path), tmp_path / "cache"
    _assert_concurrent(tmp_path, load_planetoid, (str(root), str(cache)), cache, "Cora-*.safetensors")


@pytest.mark.multiprocess
@needs["zinc"]
def test_zinc_concurrent_fill(tmp_path):
    root, cache = zinc_copy(tmp_path), tmp_path / "cache"
    _assert_concurrent(tmp_path, load_zinc, (str(root), str(cache)), cache, "zinc-*.safetensors")


@pytest.mark.multiprocess
@needs["citation"]
def test_citation_sentiment_concurrent_fill(tmp_path):
    corpus, meta = CITATION / "citation_sentiment_corpus.txt", CITATION / "aan_acl-metadata.txt"
    cache = tmp_path / "cache"
    _assert_concurrent(tmp_path, load_citation, (str(corpus), str(meta), str(cache)), cache, "citation-*.safetensors")


@pytest.mark.multiprocess
@needs["blitzer"]
def test_multidomain_text_concurrent_fill(tmp_path):
    root, cache = blitzer_copy(tmp_path), tmp_path / "cache"
    _assert_concurrent(tmp_path, load_multidomain, (str(root), str(cache)), cache, "encoded-*.safetensors")
    assert len(glob.glob(str(cache / "tokenizer-*.json"))) == 1


@pytest.mark.multiprocess
@needs["utd"]
def test_utd_mhad_concurrent_fill(tmp_path):
    root, cache = utd_copy(tmp_path), tmp_path / "cache"
    _assert_concurrent(tmp_path, load_utd, (str(root), str(cache)), cache, "utdmhaddatamodule_*.npz")


@needs["cora"]
def test_planetoid_processing_equals_pyg(tmp_path):
    """Processing with PyG's reader into safetensors gives exactly PyG's Planetoid(split="public")[0]."""
    from torch_geometric.datasets import Planetoid

    from zoo.data.planetoid import PlanetoidDataModule

    root = cora_copy(tmp_path)
    ours = PlanetoidDataModule(root=str(root), cache_dir=str(tmp_path / "cache"), download=False,
                               normalize_features=False).data
    theirs = Planetoid(str(root), "Cora", split="public")[0]
    assert sorted(ours.keys()) == sorted(theirs.keys())
    for key in theirs.keys():
        assert torch.equal(ours[key], theirs[key]) and ours[key].dtype == theirs[key].dtype, key


# -- a planted pickle payload under a cache name is refused, never run -----------------------------
def _plant_over(cache: Path, pattern: str, marker: Path) -> str:
    (path,) = glob.glob(str(cache / pattern))
    plant_pickle(path, str(marker))
    return path


@pytest.mark.parametrize("kind", ["zinc", "citation", "planetoid", "multidomain", "tokenizer", "utd"])
def test_planted_cache_file_is_refused(tmp_path, kind):
    cache, marker = tmp_path / "cache", tmp_path / "marker"
    if kind == "zinc":
        if not ZINC.exists():
            pytest.skip("ZINC not present")
        args, fn, pattern = (str(zinc_copy(tmp_path, 60)), str(cache)), load_zinc, "zinc-*.safetensors"
    elif kind == "citation":
        if not CITATION.exists():
            pytest.skip("citation corpus not present")
        corpus, meta = citation_copy(tmp_path, 100)
        args, fn, pattern = (str(corpus), str(meta), str(cache)), load_citation, "citation-*.safetensors"
    elif kind == "planetoid":
        if not CORA.exists():
            pytest.skip("Cora not present")
        args, fn, pattern = (str(cora_copy(tmp_path)), str(cache)), load_planetoid, "Cora-*.safetensors"
    elif kind in ("multidomain", "tokenizer"):
        if not BLITZER.exists():
            pytest.skip("Blitzer not present")
        args, fn = (str(blitzer_copy(tmp_path)), str(cache)), load_multidomain
        pattern = "encoded-*.safetensors" if kind == "multidomain" else "tokenizer-*.json"
    else:
        if not UTD.exists():
            pytest.skip("UTD-MHAD not present")
        args, fn, pattern = (str(utd_copy(tmp_path, (1,))), str(cache)), load_utd, "utdmhaddatamodule_*.npz"
    fn(*args)  # builds the entry, so the planted file sits exactly where a run will read
    path = _plant_over(cache, pattern, marker)
    with pytest.raises(CacheError, match=rf"{os.path.basename(path)}: not a valid zoo cache file.*rm "):
        fn(*args)
    assert not marker.exists(), "the planted payload ran"
    with open(path, "wb") as handle:  # garbage bytes: refused the same way
        handle.write(os.urandom(512))
    with pytest.raises(CacheError, match=os.path.basename(path)):
        fn(*args)
    os.remove(path)  # deleting the bad file rebuilds the entry
    fn(*args)


def test_pretrained_table_payload_is_refused(tmp_path):
    from zoo.nets.text_capsule_net import TextCapsuleNet

    path, marker = tmp_path / "embeddings.pt", tmp_path / "marker"
    torch.save({"table": Payload(str(marker))}, path)
    with pytest.raises(ValueError, match=r"pretrained_path=.*embeddings\.pt.*weights_only=True"):
        TextCapsuleNet(vocab_size=10, num_classes=2, embed_dim=4, pretrained_path=str(path))
    assert not marker.exists()


def test_paired_npz_object_arrays_are_refused(tmp_path):
    from zoo.data.paired_sequences import PairedArrayDataModule

    marker, n = tmp_path / "marker", 8
    a = np.empty(n, dtype=object)
    for i in range(n):
        a[i] = Payload(str(marker)) if i == 0 else np.zeros((5, 2))
    np.savez(tmp_path / "pairs.npz", acc=a, emg=np.zeros((n, 5, 2)), labels=np.arange(n) % 2,
             subjects=np.arange(n) % 4)
    dm = PairedArrayDataModule(path=str(tmp_path / "pairs.npz"), cache_dir=str(tmp_path / "cache"),
                               modalities=["acc", "emg"], train_subjects=[0, 1], test_subjects=[2, 3])
    with pytest.raises(ValueError, match=r"pairs\.npz.*object \(pickled\) array.*_lengths"):
        dm.prepare_data()
    assert not marker.exists()


# -- a raw file changed after its cache was built --------------------------------------------------
@needs["zinc"]
def test_zinc_same_size_edit_is_parsed_again(tmp_path):
    from zoo.data.zinc import ZincDataModule

    root, cache = zinc_copy(tmp_path, 60), tmp_path / "cache"
    dm = ZincDataModule(root=str(root), cache_dir=str(cache))
    before, old_path = dm.splits["train"][0].x.clone(), dm._cache_path()
    csv = root / "smiles_score.csv"
    stat = os.stat(csv)
    lines = csv.read_text().splitlines()
    assert "Cl" in lines[1]  # molecule 0 has a chlorine
    lines[1] = lines[1].replace("Cl", "Br", 1)  # same size, still a valid SMILES
    csv.write_text("\n".join(lines) + "\n")
    os.utime(csv, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the old mtime, as a copy tool keeps it
    assert os.stat(csv).st_size == stat.st_size
    again = ZincDataModule(root=str(root), cache_dir=str(cache))
    assert again._cache_path() != old_path
    after = again.splits["train"][0]
    assert not torch.equal(after.x, before)  # the edited molecule, not the cached one
    assert len(glob.glob(str(cache / "zinc-*.safetensors"))) == 2
    # identical bytes at another path share the entry (caches are keyed by content, not location)
    other = tmp_path / "elsewhere"
    shutil.copytree(root, other)
    assert ZincDataModule(root=str(other), cache_dir=str(cache))._cache_path() == again._cache_path()


@needs["utd"]
def test_utd_mhad_changed_recording_is_read_again(tmp_path):
    from zoo.data.utd_mhad import UTDMHADDataModule

    root, cache = utd_copy(tmp_path, (1,)), tmp_path / "cache"
    dm = UTDMHADDataModule(root=str(root), cache_dir=str(cache))
    old_file, old = dm.cache_file, dm._load()
    name = "a1_s3_t2_inertial.mat"
    imu = scipy.io.loadmat(root / "Inertial" / name)["d_iner"]
    os.remove(root / "Inertial" / name)
    scipy.io.savemat(root / "Inertial" / name, {"d_iner": imu * 2.0})
    again = UTDMHADDataModule(root=str(root), cache_dir=str(cache))
    new_file = again.cache_file
    assert new_file != old_file
    new = again._load()
    row = list(new["keys"]).index("a1_s3_t2")
    assert np.allclose(new["x_inertial"][row], 2.0 * old["x_inertial"][row], atol=1e-5)
    others = [i for i in range(len(new["keys"])) if i != row]
    assert np.array_equal(new["x_inertial"][others], old["x_inertial"][others])
    os.remove(root / "Inertial" / "a1_s8_t4_inertial.mat")  # a removed recording changes the key too
    os.remove(root / "Skeleton" / "a1_s8_t4_skeleton.mat")
    assert UTDMHADDataModule(root=str(root), cache_dir=str(cache)).cache_file not in (old_file, new_file)


@needs["citation"]
def test_citation_edited_sentence_is_embedded_again(tmp_path):
    corpus, meta = citation_copy(tmp_path, 100)
    cache = tmp_path / "cache"
    before = load_citation(str(corpus), str(meta), str(cache))
    text = corpus.read_text(encoding="utf-8")
    corpus.write_text(text.replace("\tn\t", "\tp\t", 1) if "\tn\t" in text else text.replace("\to\t", "\tp\t", 1),
                      encoding="utf-8")  # one label flipped: same size
    assert load_citation(str(corpus), str(meta), str(cache)) != before
    assert len(glob.glob(str(cache / "citation-*.safetensors"))) == 2


# -- silent bad raw input that now raises, naming the file ------------------------------------------
@needs["blitzer"]
def test_truncated_blitzer_review_file_names_file_and_line(tmp_path):
    from zoo.data.multidomain_text import MultiDomainTextDataModule
    from zoo.data.sentiment_readers import read_blitzer_mdsd

    root = blitzer_copy(tmp_path)
    target = root / "sorted_data_acl" / "dvd" / "negative.review"
    raw = target.read_bytes()
    os.remove(target)
    target.write_bytes(raw[: len(raw) // 2])  # cut mid-file, as an interrupted copy leaves it
    with pytest.raises(ValueError, match=r"dvd/negative\.review:\d+: <review> block is never closed.*truncated"):
        read_blitzer_mdsd(str(root))
    dm = MultiDomainTextDataModule(source="blitzer_mdsd", root=str(root), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(ValueError, match=r"negative\.review:\d+"):
        dm.setup()
    # books/positive.review has a <data> wrapper: a cut exactly after a </review> is caught too
    wrapped = root / "sorted_data_acl" / "books" / "positive.review"
    raw = wrapped.read_bytes()
    cut = raw.index(b"</review>", len(raw) // 2) + len(b"</review>\n")
    os.remove(target)
    os.symlink(BLITZER / "sorted_data_acl" / "dvd" / "negative.review", target)
    os.remove(wrapped)
    wrapped.write_bytes(raw[:cut])
    with pytest.raises(ValueError, match=r"books/positive\.review:\d+: the file opens with <data> but does not end"):
        read_blitzer_mdsd(str(root))
    assert len(read_blitzer_mdsd(str(blitzer_copy(tmp_path / "intact")))) == 8000


@needs["zinc"]
@pytest.mark.parametrize("value", ["", "nan", "abc"])
def test_zinc_empty_or_nan_target_names_file_and_row(tmp_path, value):
    from zoo.data.zinc import ZincDataModule

    root = zinc_copy(tmp_path, 60)
    csv = root / "smiles_score.csv"
    lines = csv.read_text().splitlines()
    fields = lines[4].split(",")  # molecule 3
    fields[3] = value  # the score column
    lines[4] = ",".join(fields)
    csv.write_text("\n".join(lines) + "\n")
    dm = ZincDataModule(root=str(root), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(ValueError, match=rf"smiles_score\.csv: row 3 \(line 5\) has target score=.*not a finite number"):
        dm.prepare_data()
    assert not (tmp_path / "cache").exists() or not glob.glob(str(tmp_path / "cache" / "zinc-*.safetensors"))


@needs["fashion"]
def test_truncated_gz_idx_file_names_the_file(tmp_path):
    from zoo.data.fashion_mnist import FILES, FashionMNISTDataModule, read_idx

    for name in FILES.values():
        os.symlink(FASHION / name, tmp_path / name)
    target = tmp_path / FILES["test_labels"]
    raw = target.read_bytes()
    os.remove(target)
    target.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz: truncated or corrupt gzip file \(EOFError"):
        read_idx(str(target))
    target.write_bytes(raw[:10] + b"\x00" * (len(raw) - 10))  # corrupt deflate data
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz: truncated or corrupt gzip file"):
        read_idx(str(target))
    dm = FashionMNISTDataModule(root=str(tmp_path), cache_dir=str(tmp_path / "cache"), download=False)
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz"):
        dm._load_split("test")
    assert read_idx(str(FASHION / FILES["test_labels"])).shape == (10000,)
    with gzip.open(FASHION / FILES["test_labels"]) as handle:
        assert len(handle.read()) == 10008
