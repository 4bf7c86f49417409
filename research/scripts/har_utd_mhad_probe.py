"""Quick HAR probe on UTD-MHAD: a plain training loop (no Lightning) + a scikit-learn linear probe.

Pre-trains the skeleton/IMU encoders with CMC (``--mode cmc``), the hard-negative loss (``hn``,
``--beta``, ``--tau_plus``) or its label-aware form (``hnl``), or trains them supervised (``sup``),
then fits a logistic regression on the standardised frozen features of the (un-augmented) training
subjects and prints the test accuracy for both modalities, skeleton and IMU. Used to choose the
recipe in the README (exploration only; the reported table comes from ``bench/har_utd_mhad.py``).

    OMP_NUM_THREADS=1 PYTHONPATH=src nice -n 10 python bench/har_utd_mhad_probe.py --epochs 15 --mode cmc --eval_every 5
"""
import argparse, os, sys, time
from pathlib import Path
import numpy as np, torch, torch.nn.functional as F
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
torch.set_num_threads(1)
from zoo.data.utd_mhad import UTDMHADDataModule
from zoo.data.skeleton_augment import SkeletonAugment
from zoo.data.inertial_augment import InertialAugment
from zoo.nets.skeleton_cooccurrence import SkeletonCooccurrenceCNN
from zoo.nets.inertial_transformer import InertialTransformer
from zoo.nets.projection_head import ProjectionHead
from zoo.objectives.hard_negative_contrastive import HardNegativeContrastiveLoss
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=20)
p.add_argument("--mode", default="cmc")  # cmc | hn | hnl | sup
p.add_argument("--bn", type=int, default=1)
p.add_argument("--hidden", type=int, default=16)
p.add_argument("--out", type=int, default=128)
p.add_argument("--lr", type=float, default=1e-3)
p.add_argument("--aug", type=int, default=1)
p.add_argument("--cos", type=int, default=0)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--beta", type=float, default=1.0)
p.add_argument("--tau_plus", type=float, default=0.1)
p.add_argument("--temp", type=float, default=0.1)
p.add_argument("--eval_every", type=int, default=0)
p.add_argument("--centre", default="frame")
p.add_argument("--batch", type=int, default=64)
a = p.parse_args()
torch.manual_seed(a.seed)
tr = {"skeleton": SkeletonAugment(), "inertial": InertialAugment()} if a.aug else None
data_dir = os.environ.get("ZOO_DATA_DIR", str(Path(__file__).resolve().parents[3] / "shared" / "data"))
dm = UTDMHADDataModule(root=f"{data_dir}/har/utd_mhad", cache_dir=str(Path(__file__).resolve().parents[2] / ".cache" / "utd_mhad"), skeleton_centre=a.centre, batch_size=a.batch, train_transforms=tr, seed=a.seed)
dm.prepare_data(); dm.setup()
enc = torch.nn.ModuleDict({"skeleton": SkeletonCooccurrenceCNN(num_joints=20, hidden_channels=a.hidden, out_features=a.out, batch_norm=bool(a.bn)),
                           "inertial": InertialTransformer(in_channels=6, batch_norm=bool(a.bn))})
proj = torch.nn.ModuleDict({m: ProjectionHead(in_features=enc[m].out_features) for m in enc})
if a.mode == "sup":
    head = torch.nn.Sequential(torch.nn.BatchNorm1d(a.out + 128, affine=False), torch.nn.Linear(a.out + 128, 27))
else:
    head = torch.nn.Identity()
    beta = 0.0 if a.mode == "cmc" else a.beta
    tp = a.tau_plus if a.mode == "hn" else 0.0
    loss_fn = HardNegativeContrastiveLoss(temperature=a.temp, beta=beta, tau_plus=tp, use_labels=a.mode == "hnl")
params = list(enc.parameters()) + list(proj.parameters()) + list(head.parameters())
opt = torch.optim.Adam(params, lr=a.lr)
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, a.epochs) if a.cos else None

def feats(loader):
    enc.eval(); out = {"skeleton": [], "inertial": [], "y": []}
    with torch.no_grad():
        for b in loader:
            for m in enc: out[m].append(enc[m](b[m]))
            out["y"].append(b["label"])
    return {k: torch.cat(v).numpy() for k, v in out.items()}

def probe():
    f = {s: feats(getattr(dm, f"{s}_dataloader")()) for s in ("train", "test")}
    # train features WITHOUT aug
    dm.data_train.transforms = {}
    f["train"] = feats(dm.train_dataloader())
    dm.data_train.transforms = dict(tr or {})
    res = {}
    for name, ms in (("both", ["skeleton", "inertial"]), ("skel", ["skeleton"]), ("imu", ["inertial"])):
        Xtr = np.concatenate([f["train"][m] for m in ms], 1); Xte = np.concatenate([f["test"][m] for m in ms], 1)
        sc = StandardScaler().fit(Xtr)
        clf = LogisticRegression(max_iter=2000, C=1.0).fit(sc.transform(Xtr), f["train"]["y"])
        res[name] = round(100 * (clf.predict(sc.transform(Xte)) == f["test"]["y"]).mean(), 2)
    return res

t0 = time.time()
for ep in range(a.epochs):
    enc.train(); proj.train(); head.train(); tot = 0
    for b in dm.train_dataloader():
        h = {m: enc[m](b[m]) for m in enc}
        if a.mode == "sup":
            loss = F.cross_entropy(head(torch.cat([h["skeleton"], h["inertial"]], 1)), b["label"])
        else:
            loss = loss_fn(proj["skeleton"](h["skeleton"]), proj["inertial"](h["inertial"]), b["label"])
        opt.zero_grad(); loss.backward(); opt.step(); tot += loss.item()
    if sched: sched.step()
    msg = f"ep {ep+1} loss {tot:.3f} t={time.time()-t0:.0f}s"
    if a.eval_every and (ep + 1) % a.eval_every == 0:
        if a.mode == "sup":
            enc.eval(); head.eval(); c = n = 0
            with torch.no_grad():
                for b in dm.test_dataloader():
                    h = {m: enc[m](b[m]) for m in enc}
                    c += (head(torch.cat([h["skeleton"], h["inertial"]], 1)).argmax(1) == b["label"]).sum().item(); n += len(b["label"])
            msg += f" test {100*c/n:.2f}"
        else:
            msg += f" probe {probe()}"
    print(msg, flush=True)
print("final", vars(a), probe() if a.mode != "sup" else "", f"{time.time()-t0:.0f}s", flush=True)
