#!/usr/bin/env bash
# Build the wheel, install it with its dependencies into a fresh venv, and run zoo-train and
# zoo-eval from an empty directory outside the checkout, the data root coming from ZOO_DATA_DIR.
# Usage: bash .ci/wheel_check.sh [python-with-build]   (TORCH_SPEC picks the torch pair)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_PY="${1:-.venv/bin/python}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}"
if [ -z "${ZOO_DATA_DIR:-}" ]; then
  [ -d ../shared/data ] || { echo "wheel check: set ZOO_DATA_DIR (no ../shared/data beside the checkout)" >&2; exit 1; }
  ZOO_DATA_DIR="$(cd ../shared/data && pwd)"
fi
export ZOO_DATA_DIR
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$BUILD_PY" -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
wheel="$(ls "$work"/dist/*.whl)"
listing="$(unzip -l "$wheel")"
grep -q "zoo/conf/train.yaml" <<<"$listing" || { echo "wheel check: $wheel lacks zoo/conf/train.yaml" >&2; exit 1; }
python3 -m venv "$work/venv"
# shellcheck disable=SC2086
"$work/venv/bin/python" -m pip install --quiet $TORCH_SPEC
"$work/venv/bin/python" -m pip install --quiet "$wheel"
mkdir "$work/run" && cd "$work/run"
export WANDB_MODE=offline
"$work/venv/bin/zoo-train" experiment=gcn_cora debug=fdr logger=none
# a real checkpoint for zoo-eval: two CPU epochs of the same experiment
"$work/venv/bin/zoo-train" experiment=gcn_cora trainer=cpu trainer.max_epochs=2 logger=none
ckpt="$(find logs/gcn_cora -name last.ckpt | head -n 1)"
[ -n "$ckpt" ] || { echo "wheel check: zoo-train wrote no last.ckpt under $work/run/logs/gcn_cora" >&2; exit 1; }
"$work/venv/bin/zoo-eval" ckpt_path="$ckpt" >"$work/eval.log" 2>&1 || { cat "$work/eval.log"; exit 1; }
cat "$work/eval.log"
grep -q "test/acc" "$work/eval.log" || { echo "wheel check: zoo-eval printed no test/acc" >&2; exit 1; }
[ ! -e "$work/run/data" ] || { echo "wheel check: a run wrote ./data although ZOO_DATA_DIR=$ZOO_DATA_DIR" >&2; exit 1; }
echo "wheel check: $(basename "$wheel") trains and evaluates from $work/run"
