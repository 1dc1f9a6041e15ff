#!/usr/bin/env bash
# The gaze model the project ships: landmark_gaze learnt from the real faces of a course folder whose faces
# carry a gaze reference (course21/I: gaze_reference.jsonl, a real-data gaze model's answers; see its README).
# Usage: train/recipes/course21_gaze.sh DATA_DIR OUT_DIR   (DATA_DIR: e.g. ../shared/data/course21/I)
#
# 1. make_rec.py gaze_photos: every answered face cut in MPIIFaceGaze's normalised view as analyze.py cuts it
#    (the label file's points, their head pose, the assumed camera), the reference turned into the view's
#    frame; split by photo as the course21 recipes (seed 0; 70/10/20: the shipped landmark model's split);
# 2. per member k: tools/landmark_init.py starts landmark_gaze from member k of the shipped landmark model
#    (deploy/models/course21, learnt from the same training photos), then train_gaze.py trains it on the
#    training faces, its epoch picked on the validation faces;
# 3. MEMBERS > 1: the members' exports averaged into one (train/export.py --ensemble): OUT_DIR/model;
# 4. bench/bench_gaze_real.py scores it on the test photos through the photo path (detected faces, the
#    shipped landmark model's points) against the reference, beside the trivial answers: OUT_DIR/score_gaze;
# 5. tools/provenance.py: OUT_DIR/provenance.json (licence: non-commercial, the teacher's data's terms).
# A member already trained in OUT_DIR/member<k> is kept.  EPOCHS, LR, MEMBERS, TRAIN_ARGS, GPU_IDS pass through;
# COMPARE="NAME=PREFIX ..." scores other gaze exports beside it (e.g. a renders-only model).
# On 2 CPU cores with the defaults: about MEMBERS x 10 minutes, and 8 minutes of scoring.
set -euo pipefail
DATA=${1:?usage: $0 DATA_DIR OUT_DIR}
OUT=${2:?usage: $0 DATA_DIR OUT_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-python}
MEMBERS=${MEMBERS:-3}
EPOCHS=${EPOCHS:-80}
LR=${LR:-2e-3}
LANDMARKS=${LANDMARKS:-$ROOT/deploy/models/course21/model}
mkdir -p "$OUT"
START=$(date +%s)

if [ ! -f "$OUT/rec/test.idx" ]; then
  $PY "$ROOT/tools/make_rec.py" gaze_photos "$DATA" --dataset mpiifacegaze --size 112 --out "$OUT/rec"
fi
PREFIXES=()
for ((k = 0; k < MEMBERS; k++)); do
  RUN="$OUT/member$k"
  if [ -f "$RUN/model-meta.json" ]; then
    echo "== member $k of $MEMBERS: kept as it is in $RUN"
  else
    echo "== member $k of $MEMBERS"
    $PY "$ROOT/tools/landmark_init.py" "$LANDMARKS" "$OUT/init$k.params" --member "$k" --seed "$k"
    # shellcheck disable=SC2086
    $PY "$ROOT/train/train_gaze.py" --model landmark_gaze --finetune "$OUT/init$k.params" --train "$OUT/rec/train" \
        --val "$OUT/rec/val" --epochs "$EPOCHS" --batch_size 32 --optimizer adam --lr "$LR" --loss_reduction sum --seed "$k" \
        --gpu_ids "${GPU_IDS:-}" --out "$RUN" --overwrite --log_interval 0 ${TRAIN_ARGS:-}
  fi
  PREFIXES+=("$RUN/model")
done
if [ "$MEMBERS" -gt 1 ]; then
  $PY "$ROOT/train/export.py" --ensemble "${PREFIXES[@]}" --out "$OUT/model"
else
  for f in model-symbol.json model-0000.params model-meta.json; do cp "$OUT/member0/$f" "$OUT/$f"; done
fi
mkdir -p "$OUT/score_gaze"
read -r -a COMPARE_MODELS <<< "${COMPARE:-}"  # e.g. "renders=runs/renders/model": scored beside it
$PY "$ROOT/bench/bench_gaze_real.py" --data "$DATA" --model "course21_gaze=$OUT/model" "${COMPARE_MODELS[@]/#/--model=}" \
    --split test --json "$OUT/score_gaze/test.json"
$PY "$ROOT/tools/provenance.py" "$OUT" --recipe "train/recipes/course21_gaze.sh $DATA OUT (MEMBERS=$MEMBERS \
EPOCHS=$EPOCHS LR=$LR${TRAIN_ARGS:+ TRAIN_ARGS=$TRAIN_ARGS})" \
    --data "$DATA: the faces of the training photos of the split by photo (seed 0; 70/10/20) with \
gaze_reference.jsonl's answers (the ETH-XGaze ResNet-18 of hysts/ptgaze: a model's answers, not measurements), \
epochs picked on the validation photos; scored on the test photos nothing in training or selection saw, \
through the photo path (the default detector, the shipped landmark model)" \
    --licence "non-commercial use only: learnt from the answers of a model trained on ETH-XGaze (CC BY-NC-SA 4.0)"
echo "course21_gaze recipe done in $(( $(date +%s) - START )) s: $OUT/score_gaze/test.json"
