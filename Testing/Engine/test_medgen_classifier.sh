#!/bin/sh
# test_medgen_classifier.sh MEDGEN SCRATCH_DIR: `medgen train --model classifier` and `medgen info` on classifiers,
# end to end on a tiny generated image folder (two classes of 32x32 PNGs, written by Debian's python3 with only its
# standard library): a run with --val writes its checkpoint and log, prints the held-out accuracy per class and
# overall and keeps it (and --note's notes) in the checkpoint; info summarizes it (size, width, feature length,
# training settings, classes, notes); and bad requests (an unlabelled folder, held-out classes that are not the
# training ones, another model's option, a note without "run.", an existing run) exit non-zero naming the problem
# and leave no checkpoint.
medgen="$1"
dir="$2"
# shellcheck source-path=SCRIPTDIR source=cli_test_lib.sh
. "$(dirname "$0")/cli_test_lib.sh"
rm -rf "$dir" && mkdir -p "$dir/data/disk" "$dir/data/bars" "$dir/flat" "$dir/other/disk" "$dir/other/ring" || exit 1
make_pngs "$dir" <<'PY' || exit 1
d = sys.argv[1]
for i in range(8):
    r = 6 + i % 4
    disk = [[230 if (x - 16) ** 2 + (y - 16) ** 2 < r * r else 20 for x in range(32)] for y in range(32)]
    bars = [[230 if (y + i) % 8 < 4 else 20 for x in range(32)] for y in range(32)]
    png(f"{d}/data/disk/{i}.png", disk)
    png(f"{d}/data/bars/{i}.png", bars)
    png(f"{d}/flat/{i}.png", disk)
    png(f"{d}/other/disk/{i}.png", disk)
    png(f"{d}/other/ring/{i}.png", bars)
PY
tiny="--size 16 --width 4 --steps 6 --batch 4 --threads 2"
run="$dir/run"
# shellcheck disable=SC2086
check "train" 0 "$medgen" train --model classifier --data "$dir/data" --val "$dir/data" --out "$run" $tiny \
  --note run.feature_extractor=test-v1
[ -s "$run/checkpoint.safetensors" ] || fail "no checkpoint after training"
[ "$(wc -l <"$run/train-log.csv")" -eq 7 ] || fail "train-log.csv should hold a header and 6 steps"
said "a classifier of width 4 (features: 16 values)" "training should say what it trains"
said "^medgen train: accuracy on $dir/data: [01]\.[0-9]* ([0-9]* of 16 images)" "the overall accuracy is missing"
said "^  bars  *[01]\.[0-9]* ([0-9] of 8)" "the accuracy of class bars is missing"
said "^  disk  *[01]\.[0-9]* ([0-9] of 8)" "the accuracy of class disk is missing"
accuracy=$(sed -n 's/^medgen train: accuracy on .*: \([01]\.[0-9]*\) .*/\1/p' "$dir/check.log")
check "info" 0 "$medgen" info "$run/checkpoint.safetensors"
said "^model: image classifier (CNN) for 16x16 images with 1 channel, width 4, 3 blocks; features: 16 values" \
  "medgen info should summarize a classifier"
said "^training: 6 steps, batch 4, learning rate 0.002, seed 1" "medgen info should give the training settings"
said "classes: bars, disk" "medgen info should give the classes"
said "^notes: .*val_accuracy = $accuracy" "the accuracy printed should be kept as the note run.val_accuracy"
said "^notes: .*val_images = 16" "the held-out image count should be a note"
said "^notes: .*val_data = $dir/data" "the held-out folder should be a note"
said "^notes: .*feature_extractor = test-v1" "--note should be kept in the checkpoint"

# shellcheck disable=SC2086
check "an existing run" 1 "$medgen" train --model classifier --data "$dir/data" --out "$run" $tiny
said "already exists" "an existing checkpoint should not be overwritten"
# shellcheck disable=SC2086
check "an unlabelled folder" 1 "$medgen" train --model classifier --data "$dir/flat" --out "$dir/flat-run" $tiny
said "$dir/flat: a classifier needs labelled images" "an unlabelled folder should be refused, naming it"
[ ! -e "$dir/flat-run" ] || fail "a refused run should leave nothing behind"
# shellcheck disable=SC2086
check "other held-out classes" 1 "$medgen" train --model classifier --data "$dir/data" --val "$dir/other" \
  --out "$dir/other-run" $tiny
said "class folder 'ring' is not one of the training classes" "held-out classes should be checked by name"
[ ! -e "$dir/other-run/checkpoint.safetensors" ] || fail "a refused run should leave no checkpoint"
check "a GAN's option" 2 "$medgen" train --model classifier --data "$dir/data" --out "$dir/x" --latent 8
said "latent is an option of --model gan, not of --model classifier" "another model's option should be named"
check "a note without run." 2 "$medgen" train --model classifier --data "$dir/data" --out "$dir/x" --note a=b
said "invalid value 'a=b' for --note" "a note key must start with run."
[ ! -e "$dir/x" ] || fail "a refused run should leave nothing behind"
check "help" 0 "$medgen" train --help
said "medgen train --model classifier --data FOLDER --out RUN \[--val FOLDER\]" "--help should show the classifier"
exit $failed
