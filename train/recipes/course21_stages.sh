#!/usr/bin/env bash
# The course's stage 1 and stage 2 as its instructions give them, on real course data: landmarks only (no
# face/non-face branch), MSE on the points in input pixels (nn.MSELoss: averaged), SGD lr 0.001 momentum 0.5
# without weight decay, batch 64, 100 epochs (the course's starter code), the net's last layer in pixels
# (course_stage1, course_stage2_cnn: output='px'), PyTorch's default initialisation (--init torch).  Stage 1:
# the course's CNN, no augmentation.  Stage 2: the stronger CNN (batch norm, twice the channels, dropout) with
# this project's augmentation (flips, rotation, zoom, shift, colour).  The course's targets: training loss under
# 3 and validation loss under 9 (px squared).
# Usage: train/recipes/course21_stages.sh DATA_DIR OUT_DIR   (DATA_DIR: a course folder with label.txt)
#   the split by photo of course21.sh (train 70 / val 10 / test 20, seed 0), without non-face crops; each
#   stage's epoch picked on the val photos (NME), scored on the test photos without flipping.  STAGE2_MODEL=
#   course_stage2_fpn: stage 2 with the FPN option.  EPOCHS; GPU_IDS;
#   PYTHON.  QUICK=1: a smoke run of every step (1 epoch of 2 batches).
set -euo pipefail
DATA=${1:?usage: $0 DATA_DIR OUT_DIR}
OUT=${2:?usage: $0 DATA_DIR OUT_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-python}
EPOCHS=${EPOCHS:-100}
BATCH=64
EXTRA=()
if [ "${QUICK:-0}" = 1 ]; then EPOCHS=1; BATCH=4; EXTRA=(--max_batches 2 --num_workers 0); fi
COURSE=(--loss l2 --optimizer sgd --lr 0.001 --momentum 0.5 --wd 0 --lr_mode constant --warmup_epochs 0 --init torch
        --total_batch "$BATCH" --epochs "$EPOCHS" --seed 1 --log_interval 0 --overwrite)
NO_AUGMENTATION=(--flip_prob 0 --rotate 0 --zoom 0 --shift 0 --color 0 --gray 0)
mkdir -p "$OUT"

$PY "$ROOT/tools/make_rec.py" course21 "$DATA" --out "$OUT/rec" --test_ratio 0.2 --val_ratio 0.1 --neg_ratio 0 \
    --seed 0
# a stage whose loss stops being finite ends with an error after exporting its best epoch: noted, the other runs
STATUS=()
$PY "$ROOT/train/train_landmarks.py" --train "$OUT/rec/train" --val "$OUT/rec/val" --model course_stage1 \
    "${COURSE[@]}" "${NO_AUGMENTATION[@]}" --gpu_ids "${GPU_IDS:-}" --out "$OUT/stage1" "${EXTRA[@]}" \
    && STATUS+=(finished) || STATUS+=(diverged)
$PY "$ROOT/train/train_landmarks.py" --train "$OUT/rec/train" --val "$OUT/rec/val" \
    --model "${STAGE2_MODEL:-course_stage2_cnn}" "${COURSE[@]}" --gpu_ids "${GPU_IDS:-}" --out "$OUT/stage2" \
    "${EXTRA[@]}" && STATUS+=(finished) || STATUS+=(diverged)
for s in stage1 stage2; do
  $PY "$ROOT/deploy/score.py" --model "$OUT/$s/model" --archive "$OUT/rec/test" --out "$OUT/score/$s" \
      --gpu_ids "${GPU_IDS:-}"
done
$PY "$ROOT/tools/results.py" "$OUT/score/stage1/summary.json" "$OUT/score/stage2/summary.json"
$PY - "$OUT" "${STATUS[@]}" <<'PY'
import json, sys
print("\n| stage | run | epoch picked | training loss (target < 3) | validation loss (target < 9) | val NME |")
print("| --- | --- | --- | --- | --- | --- |")
for s, status in zip(("stage1", "stage2"), sys.argv[2:]):
    m = json.load(open("%s/%s/best_metrics.json" % (sys.argv[1], s)))
    print("| %s | %s | %d | %.3f | %.3f | %.4f |" % (s, status, m["epoch"], m["train_loss"], m["mse_px"], m["nme"]))
PY
