#!/usr/bin/env bash
# The MC4 baseline on the real Momenta MC4 release, as its document gives it: two ResNeXt-50 32x4d nets composed
# into gaze, the head photo centre-cropped to 224 px, the eye net on one eye picked at random per sample (left or
# right; mc4_gazenet), eyes at 224 px, no augmentation, SGD lr 0.1, momentum 0.9, weight decay 5e-4, 200,000
# iterations at 16 per GPU on 8 GPUs (128 in all: --total_batch 128 on any number of devices), the rate 0.01,
# 0.001 and 0.0001 after 10k, 20k and 25k iterations as its text says (its code never lowers it: LR_STEPS= for
# that), PyTorch's SmoothL1Loss averaged over the batch and both angles mapped to [0, 1] (degrees / 180), the
# last iteration's weights; 10% of the training records (seed 0) scored as validation; writes the submission
# file for the test set.  mc4_synthetic.sh is this project's own CPU recipe (both eyes, augmentation, Adam).
# Usage: train/recipes/mc4.sh MC4_ROOT OUT_DIR
#   MC4_ROOT as released: train/ (head/, l_eye/, r_eye/ with <name>.png, head_label.txt, eye_label.txt,
#   gaze_label.txt) and test/ (the three image folders).  GPU_IDS=0,1,2,3; ITERS; BATCH (total); LR_STEPS;
#   MODEL=mc4_gazenet_2eyes (both eyes as two channels); PRETRAINED=PATH starts from ImageNet weights; PYTHON.
#   QUICK=1: a smoke run of every step with the small stand-in backbone.
set -euo pipefail
DATA=${1:?usage: $0 MC4_ROOT OUT_DIR}
OUT=${2:?usage: $0 MC4_ROOT OUT_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-python}
MODEL=${MODEL:-mc4_gazenet}
ITERS=${ITERS:-200000}
BATCH=${BATCH:-128}
LR_STEPS=${LR_STEPS-10000,20000,25000}
LR_MODE=step
if [ -z "$LR_STEPS" ]; then LR_MODE=constant; fi  # the document's code: 0.1 throughout
HEAD=${HEAD:-224}
EYE=${EYE:-224}
EXTRA=()
if [ -n "${PRETRAINED:-}" ]; then EXTRA+=(--pretrained "$PRETRAINED"); fi
if [ "${QUICK:-0}" = 1 ]; then MODEL=mc4_gazenet_small; ITERS=2; BATCH=8; HEAD=64; EYE=32; EXTRA+=(--num_workers 0); fi
mkdir -p "$OUT"

$PY "$ROOT/tools/make_rec.py" mc4 "$DATA/train" --out "$OUT/rec" --val_ratio 0.1 --seed 0 --head_size 224 --eye_size 224
$PY "$ROOT/tools/make_rec.py" mc4 "$DATA/test" --test --out "$OUT/rec" --head_size 224 --eye_size 224
$PY "$ROOT/train/train_gaze.py" --model "$MODEL" --train "$OUT/rec/train" \
    --head_size "$HEAD" --eye_size "$EYE" --optimizer sgd --lr 0.1 --momentum 0.9 --wd 5e-4 --lr_mode "$LR_MODE" \
    --lr_steps "$LR_STEPS" --lr_step_unit iter --lr_factor 0.1 --warmup_epochs 0 --loss smooth_l1 \
    --loss_reduction mean --loss_scale 180 --zoom 0 --shift 0 --flip_prob 0 --color 0 --iters "$ITERS" \
    --total_batch "$BATCH" --gpu_ids "${GPU_IDS:-}" --out "$OUT/run" --log_interval 100 --overwrite "${EXTRA[@]}"
$PY "$ROOT/deploy/score.py" --model "$OUT/run/model" --archive "$OUT/rec/val" --baseline_train "$OUT/rec/train" \
    --out "$OUT/score/val" --gpu_ids "${GPU_IDS:-}"
$PY "$ROOT/deploy/score.py" --model "$OUT/run/model" --archive "$OUT/rec/test" --out "$OUT/score/test" \
    --submission "$OUT/submission.txt" --gpu_ids "${GPU_IDS:-}"
$PY "$ROOT/tools/results.py" "$OUT/score/val/summary.json"
echo "submission: $OUT/submission.txt"
