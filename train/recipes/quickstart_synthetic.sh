#!/usr/bin/env bash
# The built-in sample, end to end: render synthetic faces in each source format, pack them,
# and show what was packed.  Usage: train/recipes/quickstart_synthetic.sh OUT_DIR
set -euo pipefail
OUT=${1:?usage: $0 OUT_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-python}
mkdir -p "$OUT"

$PY "$ROOT/tools/make_synthetic.py" course21 --num 300 --out "$OUT/synth/course21" --contact_sheet "$OUT/contact_sheet.png"
$PY "$ROOT/tools/make_rec.py" course21 "$OUT/synth/course21/I" --out "$OUT/rec/course21"

$PY "$ROOT/tools/make_synthetic.py" wflw --num 300 --out "$OUT/synth/wflw"
for split in train test; do
  $PY "$ROOT/tools/make_rec.py" wflw --annotations "$OUT/synth/wflw/WFLW_annotations/list_98pt_rect_attr_train_test/list_98pt_rect_attr_$split.txt" \
      --images "$OUT/synth/wflw/WFLW_images" --out "$OUT/rec/wflw"
done

$PY "$ROOT/tools/make_synthetic.py" mc4 --num 200 --out "$OUT/synth/mc4"
$PY "$ROOT/tools/make_rec.py" mc4 "$OUT/synth/mc4/train" --out "$OUT/rec/mc4"
$PY "$ROOT/tools/make_rec.py" mc4 "$OUT/synth/mc4/test" --out "$OUT/rec/mc4" --split test

$PY "$ROOT/tools/inspect_rec.py" "$OUT/rec/course21/train" --dump 8 "$OUT/look/course21"
$PY "$ROOT/tools/inspect_rec.py" "$OUT/rec/mc4/train" --dump 8 "$OUT/look/mc4"
echo "quickstart done: archives in $OUT/rec, drawn samples in $OUT/look, contact sheet $OUT/contact_sheet.png"
