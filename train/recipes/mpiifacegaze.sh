#!/usr/bin/env bash
# Mobile FaceGaze on the real normalised MPIIFaceGaze release, leave-one-person-out over every person
# (15 folds: train on 14, test on the 15th), reported as the mean of the folds as the seed reports it; the
# seed's settings: faces resized to 112 px, SGD with Nesterov momentum 0.9, lr 0.01 divided by 10 at
# epochs 4 and 8, weight decay 1e-4, batch 64 in all (split over GPU_IDS), L1 loss averaged over the two
# angles, 10 epochs, no epoch picking (the last epoch); the network is the source's (mobile_facegaze).
# Usage: train/recipes/mpiifacegaze.sh MPIIFACEGAZE_NORMALIZED OUT_DIR
#   the release folder with p00.mat .. p14.mat.  GPU_IDS; PRETRAINED=PATH (the seed starts from ImageNet
#   weights); EPOCHS; PYTHON.  QUICK=1: a smoke run of every fold (1 epoch of 2 batches).
set -euo pipefail
DATA=${1:?usage: $0 MPIIFACEGAZE_NORMALIZED OUT_DIR}
OUT=${2:?usage: $0 MPIIFACEGAZE_NORMALIZED OUT_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-python}
EPOCHS=${EPOCHS:-10}
BATCH=${BATCH:-64}
EXTRA=()
if [ -n "${PRETRAINED:-}" ]; then EXTRA+=(--pretrained "$PRETRAINED"); fi
if [ "${QUICK:-0}" = 1 ]; then EPOCHS=1; BATCH=8; EXTRA+=(--max_batches 2 --num_workers 0); fi
mkdir -p "$OUT"

$PY "$ROOT/tools/make_rec.py" mpiifacegaze "$DATA" --out "$OUT/rec" --size 112
PERSONS=$(ls "$OUT"/rec/p*.rec | xargs -n1 basename | sed 's/\.rec$//')
for P in $PERSONS; do
  $PY "$ROOT/tools/merge_rec.py" "$OUT/rec/not_$P" $(for Q in $PERSONS; do [ "$Q" = "$P" ] || echo "$OUT/rec/$Q"; done)
  $PY "$ROOT/train/train_gaze.py" --model mobile_facegaze --train "$OUT/rec/not_$P" --optimizer nag --lr 0.01 \
      --momentum 0.9 --wd 1e-4 --lr_mode step --lr_steps 4,8 --lr_factor 0.1 --warmup_epochs 0 --loss l1 \
      --epochs "$EPOCHS" --total_batch "$BATCH" --gpu_ids "${GPU_IDS:-}" --out "$OUT/runs/$P" --log_interval 100 \
      --overwrite "${EXTRA[@]}"
  $PY "$ROOT/deploy/score.py" --model "$OUT/runs/$P/model" --archive "$OUT/rec/$P" --out "$OUT/score/$P" \
      --gpu_ids "${GPU_IDS:-}"
done
$PY "$ROOT/tools/results.py" --mean "$OUT/score"/p*/summary.json
