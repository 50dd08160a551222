#!/bin/sh
# test_medgen_gan.sh MEDGEN SCRATCH_DIR: `medgen train --model gan`, `medgen sample` and `medgen info` on GANs, end
# to end on a tiny generated image folder (two classes of 32x32 PNGs, written by Debian's python3 with only its
# standard library): a class-conditional run writes its checkpoint and log with D and G losses, resumes for more
# steps, stops on Ctrl-C with a resume hint; info summarizes it; sampling writes a NIfTI stack + class list + grid
# marked synthetic, the same on 1 and 2 threads; --interpolate starts and ends on the two seeds' own images; an
# unconditional run samples too; and bad requests (missing data, a diffusion model's option, bad --frames) exit
# non-zero naming the problem and writing nothing.
medgen="$1"
dir="$2"
# shellcheck source-path=SCRIPTDIR source=cli_test_lib.sh
. "$(dirname "$0")/cli_test_lib.sh"
rm -rf "$dir" && mkdir -p "$dir/data/disk" "$dir/data/bars" || exit 1
make_pngs "$dir/data" <<'PY' || exit 1
for i in range(8):
    r = 6 + i % 4
    png(f"{sys.argv[1]}/disk/{i}.png", [[230 if (x - 16) ** 2 + (y - 16) ** 2 < r * r else 20 for x in range(32)] for y in range(32)])
    png(f"{sys.argv[1]}/bars/{i}.png", [[230 if (y + i) % 8 < 4 else 20 for x in range(32)] for y in range(32)])
PY
tiny="--latent 8 --width 4"
run="$dir/run"
# shellcheck disable=SC2086
check "train" 0 "$medgen" train --model gan --data "$dir/data" --out "$run" --steps 4 --batch 4 --checkpoint-every 2 \
  --augment-p 0.3 --threads 2 $tiny
[ -s "$run/checkpoint.safetensors" ] || fail "no checkpoint after training"
[ "$(wc -l <"$run/train-log.csv")" -eq 5 ] || fail "train-log.csv should hold a header and 4 steps"
head -1 "$run/train-log.csv" | grep -q "d_loss,g_loss" || fail "the GAN's log should have D and G loss columns"
said "D [-0-9.]*  G [-0-9.]*  r_t [-0-9.]*  p [0-9.]*" "training progress should show D and G losses, r_t and p"
said "images/s" "training progress lacks images/s"
check "resume for more steps" 0 "$medgen" train --resume "$run" --steps 6 --threads 1
said "resuming a GAN" "a resumed GAN run should say what it resumes"
[ -s "$run/train-log-from-4.csv" ] || fail "the resumed run's log is missing"
check "info" 0 "$medgen" info "$run/checkpoint.safetensors"
said "^model: GAN for 32x32" "medgen info should summarize a GAN"
said "^training: 6 of 6 steps" "medgen info should give the GAN's steps"
said "classes: bars, disk" "medgen info should give the GAN's classes"
said "generator [0-9,]* parameters, discriminator [0-9,]*" "medgen info should count both networks' parameters"
said "^augmentation: p " "medgen info should give the augmentation probability"
said "^notes: .*data = $dir/data" "medgen info should give the run's notes"
check "resume cannot change the model" 2 "$medgen" train --resume "$run" --steps 8 --lr-g 0.1
check "a diffusion option for a GAN" 2 "$medgen" train --model gan --data "$dir/data" --out "$dir/r1" --lr 0.1
said "lr is an option of --model ddpm" "a diffusion option given to a GAN must be named"
[ -e "$dir/r1" ] && fail "a refused run left its folder"
check "missing data folder" 1 "$medgen" train --model gan --data "$dir/nope" --out "$dir/r2"
said "$dir/nope" "a missing data folder must be named"
[ -e "$dir/r2" ] && fail "a failed run left its folder"
check "size not a power of two" 1 "$medgen" train --model gan --data "$dir/data" --out "$dir/r3" --size 48
said "image_size" "a bad GAN size must be named"
[ -e "$dir/r3" ] && fail "a failed run left its folder"
mkdir -p "$dir/small" || exit 1
make_pngs "$dir/small" <<'PY' || exit 1
for i in range(4):
    png(f"{sys.argv[1]}/{i}.png", [[(x * 9 + y * i) % 256 for x in range(28)] for y in range(28)])
PY
# shellcheck disable=SC2086
check "28x28 images without --size" 0 "$medgen" train --model gan --data "$dir/small" --out "$dir/r4" --steps 1 \
  --batch 2 $tiny
said "resizing them to 32x32" "a GAN should resize 28x28 images to the next size it takes"
check "info on the resized run" 0 "$medgen" info "$dir/r4/checkpoint.safetensors"
said "^model: GAN for 32x32" "the resized run's GAN should be 32x32"
check "width out of range" 2 "$medgen" train --model gan --data "$dir/data" --out "$dir/r5" --width 3
[ -e "$dir/r5" ] && fail "a refused run left its folder"

# Ctrl-C during training: exit 1, a checkpoint, and the resume command
cancel="$dir/cancel"
# shellcheck disable=SC2086
"$medgen" train --model gan --data "$dir/data" --out "$cancel" --steps 100000 --batch 2 --threads 2 $tiny \
  >"$dir/cancel.log" 2>"$dir/cancel.err" &
interrupt $! "$dir/cancel.log"
[ "$got" -eq 1 ] || fail "an interrupted run must exit 1, got $got"
grep -q "train --resume $cancel" "$dir/cancel.err" ||
  { fail "an interrupted run must say how to resume:"; cat "$dir/cancel.err"; }
"$medgen" info "$cancel/checkpoint.safetensors" >/dev/null 2>&1 ||
  fail "an interrupted run must leave a readable checkpoint"

ck="$run/checkpoint.safetensors"
out="$dir/samples"
mkdir -p "$out"
check "sample" 0 "$medgen" sample --checkpoint "$ck" --n 6 --seed 3 --threads 1 --out "$out/a.nii.gz" \
  --grid "$out/a.png"
for f in a.nii.gz a.csv a.png; do [ -s "$out/$f" ] || fail "sample did not write $f"; done
[ "$(grep -c ',bars$' "$out/a.csv")" -eq 3 ] && [ "$(grep -c ',disk$' "$out/a.csv")" -eq 3 ] ||
  fail "a.csv should name both classes in turn"
grep -q "MedGen synthetic image - not for diagnosis" "$out/a.png" || fail "the grid is not marked synthetic"
gzip -dc "$out/a.nii.gz" | head -c 352 | grep -q "MedGen SYNTHETIC" || fail "the NIfTI stack is not marked synthetic"
check "sample again on 2 threads" 0 "$medgen" sample --checkpoint "$ck" --n 6 --seed 3 --threads 2 --out "$out/b.nii.gz"
cmp -s "$out/a.nii.gz" "$out/b.nii.gz" || fail "the same seed gave different images on 1 and 2 threads"
check "sample one class, truncated, raw weights, as PNGs" 0 "$medgen" sample --checkpoint "$ck" --n 4 --class disk \
  --truncation 0.5 --raw-weights --batch 3 --out "$out/pngs/"
[ "$(ls "$out/pngs" | grep -c 'disk\.png$')" -eq 4 ] || fail "--out DIR/ should hold 4 PNGs of class disk"
# the frames run from seed 1's first image to seed 2's
check "interpolate" 0 "$medgen" sample --checkpoint "$ck" --interpolate 1 2 --frames 5 --class bars \
  --out "$out/walk.nii" --grid "$out/walk.png"
[ "$(grep -c ',bars$' "$out/walk.csv")" -eq 5 ] || fail "walk.csv should list 5 frames of class bars"
grep -q "MedGen synthetic image - not for diagnosis" "$out/walk.png" ||
  fail "the interpolation grid is not marked synthetic"
check "seed 1's image" 0 "$medgen" sample --checkpoint "$ck" --n 1 --seed 1 --class bars --out "$out/seed1.nii"
check "seed 2's image" 0 "$medgen" sample --checkpoint "$ck" --n 1 --seed 2 --class bars --out "$out/seed2.nii"
/usr/bin/python3 - "$out" <<'PY' || fail "the interpolation's end frames should be the two seeds' own images"
import struct, sys
def slices(path):
    data = open(path, "rb").read()
    n = struct.unpack("<h", data[46:48])[0]
    offset = int(struct.unpack("<f", data[108:112])[0])  # vox_offset: header extensions come first
    values = struct.unpack("<%df" % (32 * 32 * n), data[offset:offset + 4 * 32 * 32 * n])
    return [values[i * 1024:(i + 1) * 1024] for i in range(n)]
walk = slices(sys.argv[1] + "/walk.nii")
ends = slices(sys.argv[1] + "/seed1.nii")[0], slices(sys.argv[1] + "/seed2.nii")[0]
assert len(walk) == 5, len(walk)
for frame, image in ((walk[0], ends[0]), (walk[4], ends[1])):
    assert max(abs(a - b) for a, b in zip(frame, image)) < 0.05  # batch size may change float rounding only
assert max(abs(a - b) for a, b in zip(walk[2], ends[0])) > 0.05, "the middle frame should differ from the ends"
PY

# errors: exit non-zero, name the problem, write nothing
check "a diffusion option on a GAN" 2 "$medgen" sample --checkpoint "$ck" --sampler ddim --out "$out/x.nii.gz"
said "sampler is an option of diffusion models" "a diffusion option given to a GAN must be named"
check "--frames 1" 2 "$medgen" sample --checkpoint "$ck" --interpolate 1 2 --frames 1 --class bars --out "$out/x.nii.gz"
said "frames" "a bad --frames must be named"
check "--frames without --interpolate" 2 "$medgen" sample --checkpoint "$ck" --frames 4 --out "$out/x.nii.gz"
check "--interpolate with one seed" 2 "$medgen" sample --checkpoint "$ck" --out "$out/x.nii.gz" --interpolate 1
check "--interpolate with --n" 2 "$medgen" sample --checkpoint "$ck" --interpolate 1 2 --n 4 --class bars \
  --out "$out/x.nii.gz"
check "interpolating a conditional model without a class" 2 "$medgen" sample --checkpoint "$ck" --interpolate 1 2 \
  --out "$out/x.nii.gz"
said "class" "a conditional interpolation without --class must ask for it"
check "no class for a conditional GAN" 1 "$medgen" sample --checkpoint "$ck" --class none --out "$out/x.nii.gz"
check "unknown class" 1 "$medgen" sample --checkpoint "$ck" --class lungs --out "$out/x.nii.gz"
said "disk" "an unknown class must list the model's classes"
[ -e "$out/x.nii.gz" ] || [ -e "$out/x.csv" ] && fail "a refused sample left output"

# an unconditional GAN: trains, interpolates without a class, refuses one
uncond="$dir/uncond"
# shellcheck disable=SC2086
check "train unconditional" 0 "$medgen" train --model gan --data "$dir/data" --unconditional --out "$uncond" \
  --steps 2 --batch 4 --loss bce --no-ada --threads 2 $tiny
check "interpolate unconditional" 0 "$medgen" sample --checkpoint "$uncond/checkpoint.safetensors" --interpolate 5 6 \
  --frames 3 --out "$out/u.nii.gz"
[ "$(grep -c ',none$' "$out/u.csv")" -eq 3 ] || fail "u.csv should list 3 frames of no class"
check "a class for an unconditional GAN" 1 "$medgen" sample --checkpoint "$uncond/checkpoint.safetensors" \
  --class bars --out "$out/y.nii.gz"
[ -e "$out/y.nii.gz" ] && fail "a refused sample left output"
[ -n "$(find "$dir" -name "*.tmp*")" ] && fail "temporary files left behind"
exit $failed
