#!/bin/sh
# test_medgen_train.sh MEDGEN SCRATCH_DIR: `medgen train` and `medgen sample` end to end on a tiny generated image
# folder (two classes of 16x16 PNGs, written by Debian's python3 with only its standard library): a run writes its
# checkpoint and log, refuses to overwrite itself, resumes for more steps, stops on Ctrl-C with a checkpoint and a
# resume hint; sampling writes a NIfTI stack + class list + grid marked synthetic, the same seed gives the same
# bytes on 1 and 2 threads, and bad requests exit non-zero naming the problem and writing nothing.
medgen="$1"
dir="$2"
# shellcheck source-path=SCRIPTDIR source=cli_test_lib.sh
. "$(dirname "$0")/cli_test_lib.sh"
rm -rf "$dir" && mkdir -p "$dir/data/disk" "$dir/data/bars" || exit 1
make_pngs "$dir/data" <<'PY' || exit 1
for i in range(6):
    r = 3 + i % 3
    png(f"{sys.argv[1]}/disk/{i}.png", [[230 if (x - 8) ** 2 + (y - 8) ** 2 < r * r else 20 for x in range(16)] for y in range(16)])
    png(f"{sys.argv[1]}/bars/{i}.png", [[230 if (y + i) % 4 < 2 else 20 for x in range(16)] for y in range(16)])
open(f"{sys.argv[1]}/README.txt", "w").write("two classes\n")
PY
tiny="--base-channels 8 --channel-mult 1,2 --attention 0,1 --head-channels 8 --groups 4 --temb-channels 16"
run="$dir/run"
# shellcheck disable=SC2086
# the data path given relative to the working directory: the run must find it again from anywhere
check "train" 0 sh -c 'cd "$1" && shift && exec "$@"' sh "$dir" "$medgen" train --model ddpm --data data --out "$run" \
  --steps 4 --batch 4 --checkpoint-every 2 --threads 2 $tiny
[ -s "$run/checkpoint.safetensors" ] || fail "no checkpoint after training"
[ "$(wc -l <"$run/train-log.csv")" -eq 5 ] || fail "train-log.csv should hold a header and 4 steps"
grep -q "images/s" "$dir/check.log" && grep -q "ETA" "$dir/check.log" || fail "training progress lacks images/s or ETA"
# shellcheck disable=SC2086
check "train over an existing run" 1 "$medgen" train --model ddpm --data "$dir/data" --out "$run" --steps 4 $tiny
grep -q "already exists" "$dir/check.log" || fail "overwriting a run must say it exists"
check "resume a finished run" 1 "$medgen" train --resume "$run"
check "resume for more steps, from another directory" 0 sh -c 'cd / && exec "$@"' sh "$medgen" train --resume "$run" \
  --steps 6 --threads 1
"$medgen" info "$run/checkpoint.safetensors" >"$dir/info.log" || fail "medgen info cannot read the run's checkpoint"
grep -q "^  step: 6$" "$dir/info.log" || fail "the resumed run should end at step 6"
grep -q "^training: 6 of 6 steps" "$dir/info.log" && grep -q "classes: bars, disk" "$dir/info.log" ||
  fail "medgen info should summarize the model (steps, classes)"
[ -s "$run/train-log-from-4.csv" ] || fail "the resumed run's log is missing"
check "resume cannot change the model" 2 "$medgen" train --resume "$run" --base-channels 16
check "resume cannot change the learning rate" 2 "$medgen" train --resume "$run" --steps 8 --lr 0.5
check "unknown model" 2 "$medgen" train --model vae --data "$dir/data" --out "$dir/vae"
check "a GAN option for a diffusion model" 2 "$medgen" train --model ddpm --data "$dir/data" --out "$dir/r1" --lr-g 0.1
check "missing data folder" 1 "$medgen" train --model ddpm --data "$dir/nope" --out "$dir/r2"
grep -q "$dir/nope" "$dir/check.log" || fail "a missing data folder must be named"
[ -e "$dir/r2" ] && fail "a failed run left its folder"

# Ctrl-C during training: exit 1, a checkpoint, and the resume command
cancel="$dir/cancel"
: >"$dir/cancel.log"
# shellcheck disable=SC2086
"$medgen" train --model ddpm --data "$dir/data" --out "$cancel" --steps 100000 --batch 2 --threads 2 $tiny \
  >"$dir/cancel.log" 2>"$dir/cancel.err" &
interrupt $! "$dir/cancel.log"
[ "$got" -eq 1 ] || fail "an interrupted run must exit 1, got $got"
grep -q "train --resume $cancel" "$dir/cancel.err" || { fail "an interrupted run must say how to resume:"; cat "$dir/cancel.err"; }
"$medgen" info "$cancel/checkpoint.safetensors" >/dev/null 2>&1 || fail "an interrupted run must leave a readable checkpoint"

ck="$run/checkpoint.safetensors"
out="$dir/samples"
mkdir -p "$out"
check "sample" 0 "$medgen" sample --checkpoint "$ck" --n 4 --steps 3 --class bars --guidance 2 --seed 5 --threads 1 \
  --out "$out/a.nii.gz" --grid "$out/a.png"
for f in a.nii.gz a.csv a.png; do [ -s "$out/$f" ] || fail "sample did not write $f"; done
[ "$(grep -c ',bars$' "$out/a.csv")" -eq 4 ] || fail "a.csv should name class bars for 4 slices"
grep -q "MedGen synthetic image - not for diagnosis" "$out/a.png" || fail "the grid is not marked synthetic"
gzip -dc "$out/a.nii.gz" | head -c 352 | grep -q "MedGen SYNTHETIC" || fail "the NIfTI stack is not marked synthetic"
check "sample again on 2 threads" 0 "$medgen" sample --checkpoint "$ck" --n 4 --steps 3 --class bars --guidance 2 \
  --seed 5 --threads 2 --out "$out/b.nii.gz"
cmp -s "$out/a.nii.gz" "$out/b.nii.gz" || fail "the same seed gave different images on 1 and 2 threads"
check "sample another seed" 0 "$medgen" sample --checkpoint "$ck" --n 4 --steps 3 --class bars --seed 6 --out "$out/c.nii"
check "sample every class as PNGs" 0 "$medgen" sample --checkpoint "$ck" --n 4 --sampler dpm++2m --steps 3 \
  --out "$out/pngs/"
[ "$(ls "$out/pngs" | grep -c '\.png$')" -eq 4 ] || fail "--out DIR/ should hold 4 PNGs"
ls "$out/pngs" | grep -q "bars" && ls "$out/pngs" | grep -q "disk" || fail "the PNG names should carry both classes"
check "unknown class" 1 "$medgen" sample --checkpoint "$ck" --class lungs --out "$out/x.nii.gz"
grep -q "disk" "$dir/check.log" || fail "an unknown class must list the model's classes"
[ -e "$out/x.nii.gz" ] && fail "a failed sample left output"
check "bad output name" 2 "$medgen" sample --checkpoint "$ck" --out "$out/x.txt"
check "output in a missing folder" 1 "$medgen" sample --checkpoint "$ck" --sampler ddpm --out "$out/missing/x.nrrd"
said "the folder $out/missing does not exist" "an output in a missing folder must be refused, naming the folder"
grep -q "step" "$dir/check.log" && fail "an output in a missing folder must be refused before sampling"
check "bad sampler" 2 "$medgen" sample --checkpoint "$ck" --sampler euler --out "$out/x.nii"
check "a GAN option on a diffusion model" 2 "$medgen" sample --checkpoint "$ck" --truncation 0.5 --out "$out/x.nii"
grep -q "truncation is an option of GANs" "$dir/check.log" || fail "a GAN option given to a diffusion model must be named"
check "not a checkpoint" 1 "$medgen" sample --checkpoint "$dir/data/README.txt" --out "$out/x.nii"
grep -q "README.txt" "$dir/check.log" || fail "a bad checkpoint must be named"
[ -n "$(find "$out" "$run" -name "*.tmp*")" ] && fail "temporary files left behind"
exit $failed
