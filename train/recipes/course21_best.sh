#!/usr/bin/env bash
# The course21 model the project ships: an ensemble of MEMBERS runs of course21.sh, exported as one network.
# Usage: train/recipes/course21_best.sh DATA_DIR OUT_DIR   (DATA_DIR: a course folder with label.txt, e.g. .../course21/I)
#
# 1. course21.sh MEMBERS times (SEED=0, 1, ...: each its own rendered faces, initialisation, sample order and
#    augmentation; the same photo split), in OUT_DIR/member<k>; each member's epoch is picked on the val photos;
# 2. the members' exports averaged into one export (train/export.py --ensemble, with its ONNX file): OUT_DIR/model;
# 3. the ensemble scored on the test photos as course21.sh scores one model (course21_score.sh: score/,
#    score_all/, score_noflip/), the members' own scores beside it, and the per-pose, roll and face-size tables;
#    OUT_DIR/provenance.json (tools/provenance.py: recipe, commit, test scores), so OUT_DIR/model* and it are
#    what deploy/models/ ships.
# A member already trained and scored in OUT_DIR/member<k> is kept (a stopped run goes on where it stopped).
# MODEL (default course_stage3_cnn_hm: the course CNN with a heatmap head read out by integral regression),
# SYNTH, PRE_EPOCHS, EPOCHS, SYNTH_ARGS, TRAIN_ARGS and GPU_IDS pass through to every member.
# On 2 CPU cores with the defaults: about MEMBERS x 30 minutes.  QUICK=1: a smoke run of every step.
set -euo pipefail
DATA=${1:?usage: $0 DATA_DIR OUT_DIR}
OUT=${2:?usage: $0 DATA_DIR OUT_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-python}
MEMBERS=${MEMBERS:-3}
export MODEL=${MODEL:-course_stage3_cnn_hm}
mkdir -p "$OUT"
START=$(date +%s)

PREFIXES=()
for ((k = 0; k < MEMBERS; k++)); do
  if [ -f "$OUT/member$k/run/model-meta.json" ] && [ -f "$OUT/member$k/score_all/summary.json" ]; then
    echo "== member $k of $MEMBERS: kept as it is in $OUT/member$k (trained and scored before)"
  else
    echo "== member $k of $MEMBERS"
    SEED=$k bash "$ROOT/train/recipes/course21.sh" "$DATA" "$OUT/member$k"
  fi
  PREFIXES+=("$OUT/member$k/run/model")
done
$PY "$ROOT/train/export.py" --ensemble "${PREFIXES[@]}" --out "$OUT/model" --onnx
bash "$ROOT/train/recipes/course21_score.sh" "$OUT/model" "$OUT/member0/rec" "$DATA" "$OUT"
$PY "$ROOT/tools/provenance.py" "$OUT" --recipe "train/recipes/course21_best.sh $DATA OUT (MEMBERS=$MEMBERS${MODEL:+ \
MODEL=$MODEL}${EPOCHS:+ EPOCHS=$EPOCHS}${SYNTH_ARGS:+ SYNTH_ARGS=$SYNTH_ARGS}${TRAIN_ARGS:+ TRAIN_ARGS=$TRAIN_ARGS})" \
    --data "$DATA: training and validation photos of the split by photo (seed 0; 70/10/20), ${SYNTH:-8000} rendered \
faces per member for pretraining; scores on the test photos nothing in training or selection saw"
MEMBER_SCORES=()
for ((k = 0; k < MEMBERS; k++)); do MEMBER_SCORES+=("$OUT/member$k/score_all/summary.json"); done
echo "== the ensemble (stage 3, every face, one pass), then each member's every-face score"
$PY "$ROOT/tools/results.py" "$OUT/score/summary.json" "$OUT/score_all/summary.json" "$OUT/score_noflip/summary.json" \
    "${MEMBER_SCORES[@]}"
$PY "$ROOT/tools/results.py" --breakdown "$OUT/score_all/summary.json" "$OUT/member0/score_all/summary.json"
echo "course21_best recipe done in $(( $(date +%s) - START )) s: $OUT/score/summary.json"
