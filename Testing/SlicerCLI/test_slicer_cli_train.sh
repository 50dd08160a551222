#!/bin/sh
# test_slicer_cli_train.sh MEDGENTRAIN SCRATCH_DIR: a tiny MedGenTrain run (a diffusion model on 16x16 slices of a
# generated int16 volume) prints Slicer's progress protocol (filter-start, filter-progress rising to 1, step comments,
# filter-end) and writes its checkpoint: the fixture of the resume, sample and errors tests; so do a tiny GAN run and
# a run with a label map.
train="$1"
dir="$2"
# shellcheck source-path=SCRIPTDIR source=../Engine/cli_test_lib.sh
. "$(dirname "$0")/../Engine/cli_test_lib.sh"
# shellcheck source-path=SCRIPTDIR source=tiny_run.sh
. "$(dirname "$0")/tiny_run.sh"
rm -rf "$dir" && mkdir -p "$dir" || exit 1
/usr/bin/python3 "$(dirname "$0")/make_volume.py" "$dir/volume.nrrd" || exit 1
check "tiny training run" 0 tiny_train "$train" "$dir/volume.nrrd" "$dir/model.safetensors"
cp "$dir/check.log" "$dir/train.log"
[ -s "$dir/model.safetensors" ] || fail "no checkpoint written"
grep -q "^<filter-start>" "$dir/train.log" && grep -q "^<filter-end>" "$dir/train.log" ||
  fail "the log lacks <filter-start> or <filter-end>"
grep -q "resuming" "$dir/train.log" && fail "a fresh run must not say it resumes"
# Progress: at least 10 reports, each above the one before, the last exactly 1.
awk -F'[<>]' '/^<filter-progress>/ { v = $3 + 0; if (n && v <= last) bad = 1; last = v; n++ }
  END { exit !(n >= 10 && !bad && last == 1) }' "$dir/train.log" ||
  { fail "filter-progress must rise to 1:"; grep filter-progress "$dir/train.log" | tr '\n' ' '; echo; }
grep -q "^<filter-comment>step [1-9][0-9]* of $tiny_iterations, loss [0-9]" "$dir/train.log" &&
  grep -q "last loss [0-9]" "$dir/train.log" || fail "no step comments or no final loss"

# A GAN, as small: the other model type through the same program.
check "tiny GAN run" 0 "$train" --inputVolume "$dir/volume.nrrd" --outputModel "$dir/gan.safetensors" --modelType gan \
  --imageSize 32 --width 8 --batchSize 2 --iterations 4 --threads 2
said "^<filter-progress>1.0000</filter-progress>" "the GAN run's progress must reach 1"
[ -s "$dir/gan.safetensors" ] || fail "no GAN checkpoint written"

# A label map makes a class-conditional model (classes "label 1" and "label 2").
/usr/bin/python3 "$(dirname "$0")/make_volume.py" "$dir/labels.nrrd" label || exit 1
check "tiny run with a label map" 0 "$train" --inputVolume "$dir/volume.nrrd" --labelMap "$dir/labels.nrrd" \
  --outputModel "$dir/labelled.safetensors" --imageSize 16 --baseChannels 8 --batchSize 2 --iterations 4 --threads 2
[ -s "$dir/labelled.safetensors" ] || fail "no checkpoint written with a label map"
exit $failed
