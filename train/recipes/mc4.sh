#!/usr/bin/env bash
# The MC4 baseline on the real Momenta MC4 release, with the baseline's settings: two ResNeXt-50 32x4d nets
# (head and eyes) composed into gaze, the head photo centre-cropped to 224 px, 10% of the training records
# (seed 0) for validation, SGD lr 0.1, momentum 0.9, weight decay 5e-4, the rate divided by 10 at 60% and
# 85% of the run, batch 16 per GPU, smooth L1 on angles mapped to [0, 1] (degrees / 180); writes the
# submission file for the test set.
# Usage: train/recipes/mc4.sh MC4_ROOT OUT_DIR
#   MC4_ROOT as released: train/ (head/, l_eye/, r_eye/ with <name>.png, head_label.txt, eye_label.txt,
#   gaze_label.txt) and test/ (the three image folders).  GPU_IDS=0,1,2,3; EPOCHS; PRETRAINED=PATH starts
#   from ImageNet weights; PYTHON.  QUICK=1: a smoke run of every step with the small stand-in backbone.
set -euo pipefail
DATA=${1:?usage: $0 MC4_ROOT OUT_DIR}
OUT=${2:?usage: $0 MC4_ROOT OUT_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-python}
MODEL=${MODEL:-mc4_gazenet}
EPOCHS=${EPOCHS:-20}
HEAD=${HEAD:-224}
EYE=${EYE:-224}
EXTRA=()
if [ -n "${PRETRAINED:-}" ]; then EXTRA+=(--pretrained "$PRETRAINED"); fi
if [ "${QUICK:-0}" = 1 ]; then MODEL=mc4_gazenet_small; EPOCHS=1; HEAD=64; EYE=32; EXTRA+=(--max_batches 2 --num_workers 0); fi
mkdir -p "$OUT"

$PY "$ROOT/tools/make_rec.py" mc4 "$DATA/train" --out "$OUT/rec" --val_ratio 0.1 --seed 0 --head_size 224 --eye_size 224
$PY "$ROOT/tools/make_rec.py" mc4 "$DATA/test" --test --out "$OUT/rec" --head_size 224 --eye_size 224
$PY "$ROOT/train/train_gaze.py" --model "$MODEL" --train "$OUT/rec/train" --val "$OUT/rec/val" \
    --head_size "$HEAD" --eye_size "$EYE" --optimizer sgd --lr 0.1 --momentum 0.9 --wd 5e-4 --lr_mode step \
    --lr_factor 0.1 --loss_scale 180 --zoom 0.1 --shift 0.1 --epochs "$EPOCHS" --batch_size 16 \
    --gpu_ids "${GPU_IDS:-}" --out "$OUT/run" --log_interval 100 --overwrite "${EXTRA[@]}"
$PY "$ROOT/deploy/score.py" --model "$OUT/run/model" --archive "$OUT/rec/val" --baseline_train "$OUT/rec/train" \
    --out "$OUT/score/val" --gpu_ids "${GPU_IDS:-}"
$PY "$ROOT/deploy/score.py" --model "$OUT/run/model" --archive "$OUT/rec/test" --out "$OUT/score/test" \
    --submission "$OUT/submission.txt" --gpu_ids "${GPU_IDS:-}"
$PY "$ROOT/tools/results.py" "$OUT/score/val/summary.json"
echo "submission: $OUT/submission.txt"
