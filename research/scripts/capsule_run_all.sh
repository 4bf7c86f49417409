#!/usr/bin/env bash
# Both capsule benchmarks, one after the other (never two training jobs at once). The budget is
# sized for a shared 2-core CPU: 3 seeds, at most 6 epochs, texts truncated to 96 (Blitzer) / 48 (Persian)
# subword tokens.
set -euo pipefail
cd "$(dirname "$0")/../.."
nice -n 10 python bench/capsule_ensemble.py --data blitzer_mdsd --seeds 0 1 2 --epochs "${BLITZER_EPOCHS:-6}" data.max_length=96
nice -n 10 python bench/capsule_ensemble.py --data persian_sentiment --seeds 0 1 2 --epochs "${PERSIAN_EPOCHS:-6}" data.max_length=48
# The pooled warm-up variants table (bench/results/capsule_persian_sentiment_warmup_variants.md; ~14 min):
# nice -n 10 python bench/capsule_ensemble.py --data persian_sentiment --seeds 0 1 2 --epochs 6 --tag warmup_variants \
#     --compare 'no pooled warm-up=model.pooled_warmup_epochs=0' --compare 'pooled warm-up + shared features=model.share_features=true' \
#     data.max_length=48 model.class_weight_counts=domain model.objective.power=0.5
# The 5-seed validation-only sweep and the paired bootstrap (bench/results/capsule_persian_sentiment_val_sweep.md,
# about 12 + 16 + 8 min; commands in that file): bench/capsule_val_seeds.py, bench/capsule_paired_bootstrap.py.
