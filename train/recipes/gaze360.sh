#!/usr/bin/env bash
# The Gaze360 LSTM on the real Gaze360 release, with the seed's settings: 7-frame head sequences at 224 px,
# each frame its own random resized crop of 80-100% of its area, ResNet-18 per frame (ImageNet weights with
# PRETRAINED=PATH, as the seed) and its 512 -> 1000 (ReLU) -> 256 layers (the source's fc1 and fc2), two
# bidirectional LSTM layers, pinball loss at the 10% and 90% quantiles averaged, Adam 1e-4, batch 80 in all,
# 80 epochs picked on validation.txt; test.txt scored on all, front 180 degrees and front-facing gaze.
# Usage: train/recipes/gaze360.sh GAZE360_ROOT OUT_DIR
#   GAZE360_ROOT as released: imgs/rec_XXX/head/<person>/<frame>.jpg and train.txt, validation.txt, test.txt.
#   GPU_IDS=0,1,2,3 (BATCH is the total, split over the devices: the seed's 80); EPOCHS; SIZE; PYTHON.
#   QUICK=1: a smoke run of every step (48 px frames, 1 epoch of 2 batches).
set -euo pipefail
DATA=${1:?usage: $0 GAZE360_ROOT OUT_DIR}
OUT=${2:?usage: $0 GAZE360_ROOT OUT_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-python}
EPOCHS=${EPOCHS:-80}
BATCH=${BATCH:-80}
SIZE=${SIZE:-224}
EXTRA=()
if [ -n "${PRETRAINED:-}" ]; then EXTRA+=(--pretrained "$PRETRAINED"); fi
if [ "${QUICK:-0}" = 1 ]; then EPOCHS=1; BATCH=4; SIZE=48; EXTRA+=(--max_batches 2 --num_workers 0); fi
mkdir -p "$OUT"

$PY "$ROOT/tools/make_rec.py" gaze360 "$DATA" --out "$OUT/rec" --size "$SIZE"
$PY "$ROOT/train/train_gaze.py" --model gaze360_lstm --train "$OUT/rec/train" --val "$OUT/rec/validation" \
    --input_size "$SIZE" --crop_scale 0.8 1 --flip_prob 0 --color 0 --optimizer adam --lr 1e-4 --lr_mode constant \
    --warmup_epochs 0 --wd 0 --epochs "$EPOCHS" --total_batch "$BATCH" --gpu_ids "${GPU_IDS:-}" --out "$OUT/run" \
    --log_interval 100 --overwrite "${EXTRA[@]}"
$PY "$ROOT/deploy/score.py" --model "$OUT/run/model" --archive "$OUT/rec/test" --baseline_train "$OUT/rec/train" \
    --out "$OUT/score/test" --gpu_ids "${GPU_IDS:-}"
$PY "$ROOT/tools/results.py" "$OUT/score/test/summary.json"
