#!/usr/bin/env bash
# Both capsule benchmarks, one after the other (never two training jobs at once).
set -euo pipefail
cd "$(dirname "$0")/.."
nice -n 10 python bench/capsule_ensemble.py --data blitzer_mdsd --seeds 0 1 2 --epochs "${BLITZER_EPOCHS:-4}"
nice -n 10 python bench/capsule_ensemble.py --data persian_sentiment --seeds 0 1 2 --epochs "${PERSIAN_EPOCHS:-4}"
