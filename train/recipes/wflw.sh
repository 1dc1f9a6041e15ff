#!/usr/bin/env bash
# PFLD on the real WFLW release, trained as the PFLD article does: every training face with augmented
# copies (PFLD's data preparation makes 10 per face), PFLD's pose- and attribute-weighted loss, Adam at a
# constant 1e-4; the epoch is picked on 5% of the training photos; the full test set and its six
# attribute subsets (the release's list_98pt_test files) are scored.
# Usage: train/recipes/wflw.sh WFLW_ROOT OUT_DIR
#   WFLW_ROOT as released: WFLW_annotations/list_98pt_rect_attr_train_test/, WFLW_annotations/list_98pt_test/,
#   WFLW_images/.  GPU_IDS=0,1,2,3 trains on GPUs (BATCH per device, or TOTAL_BATCH split over them);
#   MODEL=pfld_1.0; EPOCHS; REPEATS; LOSS (pfld); LOSS_REDUCTION (mean); AUGMENT=0 (no augmentation);
#   PYTHON=.venv/bin/python.  QUICK=1: a smoke run of every step (1 epoch of 2 batches).
#   wflw_base.sh runs it with the MXNet article's BASE settings.
set -euo pipefail
DATA=${1:?usage: $0 WFLW_ROOT OUT_DIR}
OUT=${2:?usage: $0 WFLW_ROOT OUT_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-python}
MODEL=${MODEL:-pfld_0.25}
EPOCHS=${EPOCHS:-200}
BATCH=${BATCH:-64}
REPEATS=${REPEATS:-10}
LOSS=${LOSS:-pfld}
EXTRA=(--loss_reduction "${LOSS_REDUCTION:-mean}")
if [ "${AUGMENT:-1}" = 0 ]; then EXTRA+=(--flip_prob 0 --rotate 0 --zoom 0 --shift 0 --color 0 --gray 0); fi
if [ "${QUICK:-0}" = 1 ]; then EPOCHS=1; BATCH=8; REPEATS=1; EXTRA+=(--max_batches 2 --num_workers 0); fi
BATCH_ARGS=(--batch_size "$BATCH")
if [ -n "${TOTAL_BATCH:-}" ]; then
  if [ "${QUICK:-0}" = 1 ]; then TOTAL_BATCH=8; fi
  BATCH_ARGS=(--total_batch "$TOTAL_BATCH")
fi
ANN="$DATA/WFLW_annotations"
mkdir -p "$OUT"

$PY "$ROOT/tools/make_rec.py" wflw "$ANN/list_98pt_rect_attr_train_test/list_98pt_rect_attr_train.txt" \
    --images "$DATA/WFLW_images" --out "$OUT/rec" --repeats "$REPEATS" --val_ratio 0.05
$PY "$ROOT/tools/make_rec.py" wflw "$ANN/list_98pt_rect_attr_train_test/list_98pt_rect_attr_test.txt" \
    --images "$DATA/WFLW_images" --out "$OUT/rec"
SUBSETS=(largepose expression illumination makeup occlusion blur)
for s in "${SUBSETS[@]}"; do
  $PY "$ROOT/tools/make_rec.py" wflw "$ANN/list_98pt_test/list_98pt_test_$s.txt" --images "$DATA/WFLW_images" \
      --out "$OUT/rec" --split "test_$s"
done
$PY "$ROOT/train/train_landmarks.py" --train "$OUT/rec/train" --val "$OUT/rec/val" --model "$MODEL" --loss "$LOSS" \
    --optimizer adam --lr 1e-4 --lr_mode constant --warmup_epochs 0 --wd "${WD:-1e-6}" --epochs "$EPOCHS" \
    "${BATCH_ARGS[@]}" --gpu_ids "${GPU_IDS:-}" --out "$OUT/run" --log_interval 50 --overwrite "${EXTRA[@]}"
for split in test "${SUBSETS[@]/#/test_}"; do
  $PY "$ROOT/deploy/score.py" --model "$OUT/run/model" --archive "$OUT/rec/$split" --out "$OUT/score/$split" \
      --gpu_ids "${GPU_IDS:-}"
done
$PY "$ROOT/tools/results.py" "$OUT/score"/*/summary.json
