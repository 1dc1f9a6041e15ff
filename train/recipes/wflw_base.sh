#!/usr/bin/env bash
# The MXNet article's BASE regressor on the real WFLW release, with the article's settings: base_regressor
# (eight padded 3x3 conv/BN/ReLU, one max-pool, dense 512, dense 196) at 112 px, Adam at a constant 1e-4,
# batch 128 in all (split over GPU_IDS), the squared pixel error summed over a face's 196 coordinates (and
# averaged over the batch: under Adam a constant factor on the loss changes nothing but epsilon's share),
# no weight decay, each training face once and no augmentation; the epoch is picked on 5% of the training
# photos, and the test set and its six subsets are scored as wflw.sh does.  The article reports NME about 0.07
# and FR@0.1 about 0.17 on WFLW's test set.
# Usage: train/recipes/wflw_base.sh WFLW_ROOT OUT_DIR   (EPOCHS, default 100; GPU_IDS; PYTHON; QUICK=1)
set -euo pipefail
export MODEL=base_regressor LOSS=l2 LOSS_REDUCTION=sum TOTAL_BATCH=128 REPEATS=1 AUGMENT=0 WD=0
export EPOCHS=${EPOCHS:-100}
exec bash "$(dirname "$0")/wflw.sh" "$@"
