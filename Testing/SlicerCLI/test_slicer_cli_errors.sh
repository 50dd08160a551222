#!/bin/sh
# test_slicer_cli_errors.sh MEDGENTRAIN MEDGENSAMPLE SCRATCH_DIR TRAIN_DIR: bad arguments, missing or damaged inputs
# and impossible requests exit 1 with a message naming the file or the argument, and leave no output file.
# shellcheck disable=SC2086 # $quick is a list of arguments
train="$1"
sample="$2"
dir="$3"
model="$4/model.safetensors"
volume="$4/volume.nrrd"
# shellcheck source-path=SCRIPTDIR source=../Engine/cli_test_lib.sh
. "$(dirname "$0")/../Engine/cli_test_lib.sh"
rm -rf "$dir" && mkdir -p "$dir/out" || exit 1
[ -s "$model" ] || { echo "FAIL: no $model: test_slicer_cli_train makes it"; exit 1; }
out="$dir/out"
nothing_written() { # nothing_written WHAT: the output folder must be empty after a failure
  [ -z "$(ls -A "$out")" ] || { fail "$1 left files: $(ls -A "$out")"; rm -rf "${out:?}"/* "$out"/.[!.]*; }
}
refused() { # refused WHAT PATTERN PROGRAM ARGS...: exit 1, a message matching PATTERN, nothing written
  what="$1" pattern="$2"
  shift 2
  check "$what" 1 "$@"
  said "$pattern" "$what: the message should match \"$pattern\""
  nothing_written "$what"
}
printf 'NRRD0004\ntype: short\ndimension: 3\nsizes: 28 24 10\nencoding: raw\n\n' >"$dir/truncated.nrrd"
head -c 300 "$model" >"$dir/truncated.safetensors"
/usr/bin/python3 "$(dirname "$0")/make_volume.py" "$dir/labels.nrrd" label || exit 1

m="$out/model.safetensors"
# A tiny model, so that a refusal that breaks trains for a second instead of an hour.
quick="--iterations 2 --baseChannels 8 --batchSize 2"
refused "train: an unknown argument" 'unknown argument "--epochs"' \
  "$train" --inputVolume "$volume" --outputModel "$m" --epochs 3
refused "train: a malformed number" '--iterations: "ten" is not an integer' \
  "$train" --inputVolume "$volume" --outputModel "$m" --iterations ten
refused "train: an unknown model type" '--modelType: "vae" is not one of ddpm, gan' \
  "$train" --inputVolume "$volume" --outputModel "$m" --modelType vae
refused "train: a flag without its value" "--seed needs a value" \
  "$train" --inputVolume "$volume" --outputModel "$m" --seed
refused "train: no output" "--outputModel is required" "$train" --inputVolume "$volume"
refused "train: a missing input" "$dir/none.nrrd: no such file" \
  "$train" --inputVolume "$dir/none.nrrd" --outputModel "$m" $quick
refused "train: a truncated volume" "$dir/truncated.nrrd" \
  "$train" --inputVolume "$dir/truncated.nrrd" --outputModel "$m" $quick
refused "train: a label map with two volumes" "a label map goes with a single input volume" \
  "$train" --inputVolume "$volume" --inputVolume2 "$volume" --labelMap "$dir/labels.nrrd" --outputModel "$m" $quick
refused "train: a slice size below 8" "imageSize 4 is too small" \
  "$train" --inputVolume "$volume" --outputModel "$m" $quick --imageSize 4
refused "train: an empty window" "the intensity window \[100.000000, 100.000000\] is empty" \
  "$train" --inputVolume "$volume" --outputModel "$m" $quick --useWindow --windowMin 100 --windowMax 100
cp "$volume" "$out/not-a-model.safetensors"
check "train: an output that is not a checkpoint" 1 \
  "$train" --inputVolume "$volume" --outputModel "$out/not-a-model.safetensors" $quick
said "$out/not-a-model.safetensors" "a damaged model file must be named"
cmp -s "$volume" "$out/not-a-model.safetensors" || fail "a file that is not a checkpoint was overwritten"
rm -f "$out/not-a-model.safetensors"
check "train: a model file of the other kind" 1 \
  "$train" --inputVolume "$volume" --outputModel "$model" --modelType gan $quick
said "$model: holds a ddpm checkpoint" "a model of the other kind must be refused by name"

v="$out/synthetic.nrrd"
refused "sample: an unknown sampler" '--sampler: "euler" is not one of' \
  "$sample" --model "$model" --outputVolume "$v" --sampler euler
refused "sample: zero samples" '--numberOfSamples: "0" is not an integer in \[1, 10000\]' \
  "$sample" --model "$model" --outputVolume "$v" --numberOfSamples 0
refused "sample: no output" "--outputVolume is required" "$sample" --model "$model"
refused "sample: a missing model" "$dir/none.safetensors" \
  "$sample" --model "$dir/none.safetensors" --outputVolume "$v"
refused "sample: a truncated model" "$dir/truncated.safetensors" \
  "$sample" --model "$dir/truncated.safetensors" --outputVolume "$v"
refused "sample: a missing reference volume" "reference volume $dir/none.nrrd" \
  "$sample" --model "$model" --outputVolume "$v" --referenceVolume "$dir/none.nrrd"
refused "sample: a class for an unconditional model" "unconditional" \
  "$sample" --model "$model" --outputVolume "$v" --className tumour
refused "sample: a detached-header format" "write .nrrd or .mha" \
  "$sample" --model "$model" --outputVolume "$out/s.nhdr"
refused "sample: NIfTI, which ITK writes without the synthetic description" "write .nrrd or .mha" \
  "$sample" --model "$model" --outputVolume "$out/s.nii.gz"
refused "sample: TIFF, which ITK writes without the synthetic description" "write .nrrd or .mha" \
  "$sample" --model "$model" --outputVolume "$out/s.TIF"
exit $failed
