#!/usr/bin/env bash
# Mobile FaceGaze (mobile_facegaze_sm: the softmax map and batch-normed layers that train from scratch) on
# synthetic MPIIFaceGaze (normalised .mat files rendered inside OUT_DIR), leave-one-person-out:
# test on p00, pick the epoch on p01, train on p02..pNN.
# Usage: train/recipes/mpiifacegaze_synthetic.sh OUT_DIR  (NUM per person, PERSONS >= 3; MODEL=mobile_facegaze
# for the source's head from scratch)
set -euo pipefail
OUT=${1:?usage: $0 OUT_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-python}
NUM=${NUM:-600}
PERSONS=${PERSONS:-6}
EPOCHS=${EPOCHS:-25}
MODEL=${MODEL:-mobile_facegaze_sm}
mkdir -p "$OUT"

$PY "$ROOT/tools/make_synthetic.py" mpiifacegaze --num "$NUM" --persons "$PERSONS" --out "$OUT/synth" --seed 3
$PY "$ROOT/tools/make_rec.py" mpiifacegaze "$OUT/synth" --out "$OUT/rec" --size 112
# leave p00 out for the test and p01 for picking the epoch: the other people become one training archive
$PY "$ROOT/tools/merge_rec.py" "$OUT/rec/train_others" $(ls "$OUT"/rec/p*.rec | grep -v '/p0[01].rec' | sed 's/\.rec$//')
$PY "$ROOT/train/train_gaze.py" --model "$MODEL" --train "$OUT/rec/train_others" --val "$OUT/rec/p01" \
    --epochs "$EPOCHS" --batch_size 32 --lr 2e-3 --loss_reduction sum --gpu_ids "${GPU_IDS:-}" --out "$OUT/run" --overwrite --log_interval 0
$PY "$ROOT/deploy/score.py" --model "$OUT/run/model" --archive "$OUT/rec/p00" --baseline_train "$OUT/rec/train_others" \
    --out "$OUT/score"
echo "mpiifacegaze_synthetic recipe done: $OUT/score/summary.json"
