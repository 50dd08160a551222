#!/bin/sh
# test_medgen_sample_formats.sh MEDGEN MGITKWRITETEST SCRATCH_DIR: `medgen sample` into medical formats, end to end:
# a tiny DDPM and a tiny GAN trained for two steps on generated PNGs (Debian's python3, standard library only) are
# sampled to .nii.gz, .nrrd, .mha and a DICOM series; mgItkWriteTest --describe reads each back through ITK. Each
# is marked synthetic and names its checkpoint by the FNV-1a fingerprint (computed here independently), has a class
# list beside it, the same seed gives the same pixels on 1 and 2 threads, every format has the NRRD's origin and
# direction (NIfTI its values in the same order), --pixel-type short stores the float
# values rounded to nearest; a classifier checkpoint, a safetensors file without MedGen metadata and a truncated
# checkpoint are refused naming the file, and nothing is written for them or for bad options.
medgen="$1"
describe_tool="$2"
dir="$3"
# shellcheck source-path=SCRIPTDIR source=cli_test_lib.sh
. "$(dirname "$0")/cli_test_lib.sh"
rm -rf "$dir" && mkdir -p "$dir/data/disk" "$dir/data/bars" "$dir/out" || exit 1
make_pngs "$dir/data" <<'PY' || exit 1
for i in range(4):
    r = 3 + i % 3
    png(f"{sys.argv[1]}/disk/{i}.png", [[230 if (x - 8) ** 2 + (y - 8) ** 2 < r * r else 20 for x in range(16)] for y in range(16)])
    png(f"{sys.argv[1]}/bars/{i}.png", [[230 if (y + i) % 4 < 2 else 20 for x in range(16)] for y in range(16)])
PY
out="$dir/out"

describe() { # describe STACK NAME: what mgItkWriteTest --describe reads from STACK, into $out/NAME.txt
  "$describe_tool" --describe "$1" >"$out/$2.txt" 2>&1 || { fail "cannot read back $1"; cat "$out/$2.txt"; }
}
field() { # field NAME KEY: the value of KEY in a description
  sed -n "s/^$2 //p" "$out/$1.txt"
}
fingerprint() { # FNV-1a 64 of a file's bytes, by its definition
  /usr/bin/python3 - "$1" <<'PY'
import sys
h = 0xcbf29ce484222325
for b in open(sys.argv[1], "rb").read():
    h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
print(f"fnv1a64:{h:016x}")
PY
}

# shellcheck disable=SC2086
check "train a DDPM" 0 "$medgen" train --model ddpm --data "$dir/data" --out "$dir/ddpm" --steps 2 --batch 4 \
  --threads 2 --base-channels 8 --channel-mult 1,2 --attention 0,1 --head-channels 8 --groups 4 --temb-channels 16
check "train a GAN" 0 "$medgen" train --model gan --data "$dir/data" --out "$dir/gan" --steps 2 --batch 4 \
  --threads 2 --latent 8 --width 4

for model in ddpm gan; do
  ck="$dir/$model/checkpoint.safetensors"
  [ -s "$ck" ] || { fail "no $model checkpoint"; continue; }
  want_fp=$(fingerprint "$ck")
  size=16 steps="--steps 2" # the GAN makes 32x32 images and takes no --steps
  [ $model = gan ] && size=32 steps=""
  for target in a.nii.gz a.nrrd a.mha dicom/; do
    name="$model-$(echo "$target" | tr -d /)"
    format=""
    [ "$target" = dicom/ ] && format="--format dicom"
    # shellcheck disable=SC2086
    check "$model to $target" 0 "$medgen" sample --checkpoint "$ck" --n 4 $steps --seed 5 --threads 1 \
      --out "$out/$model-$target" $format
    describe "$out/$model-$target" "$name"
    [ "$(field "$name" synthetic)" = yes ] || fail "$model-$target is not marked synthetic"
    [ "$(field "$name" fingerprint)" = "$want_fp" ] ||
      fail "$model-$target names $(field "$name" fingerprint), the checkpoint is $want_fp"
    [ "$(field "$name" size)" = "$size $size 4" ] || fail "$model-$target: size $(field "$name" size)"
    [ "$(field "$name" spacing)" = "1 1 1" ] || fail "$model-$target: spacing $(field "$name" spacing)"
    csv="$out/$model-$(echo "$target" | sed 's/\.nii\.gz$//; s/\.[a-z]*$//; s|/$||').csv"
    [ "$(wc -l <"$csv" 2>/dev/null)" = 5 ] || fail "$model-$target: no class list $csv with 4 slices"
    # the same seed, another thread count: the same pixels
    # shellcheck disable=SC2086
    check "$model to $target again" 0 "$medgen" sample --checkpoint "$ck" --n 4 $steps --seed 5 --threads 2 \
      --out "$out/again-$model-$target" $format
    describe "$out/again-$model-$target" "again-$name"
    [ -n "$(field "$name" values)" ] && [ "$(field "$name" values)" = "$(field "again-$name" values)" ] ||
      fail "$model-$target: the same seed on 2 threads gave other pixels"
  done
  # one patient space: every format puts each pixel where the NRRD does, and NIfTI keeps the NRRD's values in order
  for name in "$model-a.nii.gz" "$model-a.mha" "$model-dicom"; do
    for key in origin direction; do
      [ -n "$(field "$model-a.nrrd" $key)" ] && [ "$(field "$name" $key)" = "$(field "$model-a.nrrd" $key)" ] ||
        fail "$name: $key $(field "$name" $key), the NRRD's $(field "$model-a.nrrd" $key)"
    done
  done
  [ "$(field "$model-a.nii.gz" values)" = "$(field "$model-a.nrrd" values)" ] ||
    fail "$model-a.nii.gz: its voxels are not the NRRD's in the same order"
done

# --pixel-type short: the float values rounded to nearest
ck="$dir/ddpm/checkpoint.safetensors"
check "short" 0 "$medgen" sample --checkpoint "$ck" --n 4 --steps 2 --seed 5 --out "$out/short.nrrd" --pixel-type short
said "short" "the summary should name the pixel type"
describe "$out/short.nrrd" short
[ "$(field short pixel)" = short ] || fail "--pixel-type short wrote $(field short pixel)"
/usr/bin/python3 - "$(field ddpm-a.nrrd values)" "$(field short values)" <<'PY' || fail "short is not float rounded"
import sys
floats, shorts = [[float(v) for v in a.split()] for a in sys.argv[1:3]]
want = [max(-32768, min(32767, round(v))) for v in floats]  # round(): to nearest, halves to even
bad = sum(w != s for w, s in zip(want, shorts))
print(f"{bad} of {len(want)} values differ") if bad or len(want) != len(shorts) or not want else None
sys.exit(1 if bad or len(want) != len(shorts) or not want else 0)
PY

# A model trained on a short volume with 2 mm voxels writes short stacks with 2 mm pixels by default (the run's
# notes), and the float default above came from PNGs, which have neither.
/usr/bin/python3 - "$dir/volume.nrrd" <<'PY' || exit 1
import struct, sys
voxels = [800 + 10 * z if (x - 8) ** 2 + (y - 8) ** 2 < (3 + z % 3) ** 2 else -100
          for z in range(6) for y in range(16) for x in range(16)]
header = ("NRRD0004\ntype: short\ndimension: 3\nspace: left-posterior-superior\nsizes: 16 16 6\n"
          "space directions: (2,0,0) (0,2,0) (0,0,2)\nspace origin: (0,0,0)\nencoding: raw\nendian: little\n\n")
open(sys.argv[1], "wb").write(header.encode() + struct.pack(f"<{len(voxels)}h", *voxels))
PY
check "train on a volume" 0 "$medgen" train --model ddpm --data "$dir/volume.nrrd" --size 16 --out "$dir/vol" \
  --steps 2 --batch 4 --threads 2 --base-channels 8 --channel-mult 1,2 --attention 0,1 --head-channels 8 --groups 4 \
  --temb-channels 16
check "sample the volume's model" 0 "$medgen" sample --checkpoint "$dir/vol/checkpoint.safetensors" --n 2 --steps 2 \
  --out "$out/vol.mha"
describe "$out/vol.mha" vol
[ "$(field vol pixel)" = short ] ||
  fail "a model of short volumes should write short by default, not $(field vol pixel)"
[ "$(field vol spacing)" = "2 2 1" ] || fail "a model of 2 mm voxels should write 2 mm pixels, not $(field vol spacing)"

# Checkpoints that are not MedGen generative models: refused, naming the file, writing nothing.
"$describe_tool" --classifier-checkpoint "$dir/classifier.safetensors" >/dev/null || fail "no classifier checkpoint"
/usr/bin/python3 - "$dir/plain.safetensors" <<'PY' || exit 1
import json, struct, sys
header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
open(sys.argv[1], "wb").write(struct.pack("<Q", len(header)) + header + bytes(8))
PY
head -c 3000 "$dir/ddpm/checkpoint.safetensors" >"$dir/truncated.safetensors"
for bad in classifier plain truncated; do
  for target in bad.nii.gz bad.nrrd bad-dicom/; do
    format=""
    [ "$target" = bad-dicom/ ] && format="--format dicom"
    # shellcheck disable=SC2086
    check "$bad checkpoint to $target" 1 "$medgen" sample --checkpoint "$dir/$bad.safetensors" --n 2 \
      --out "$out/$target" $format
    said "$dir/$bad.safetensors" "the refusal of the $bad checkpoint must name it"
  done
done
said "truncated" "a truncated checkpoint should be called so"
ls "$out"/bad* "$out"/.*medgen* >/dev/null 2>&1 && fail "a refused sample left files: $(ls -a "$out" | grep bad)"

# Options that do not fit: refused before any work.
check "--format dicom with a file" 2 "$medgen" sample --checkpoint "$ck" --out "$out/x.nrrd" --format dicom
check "unknown pixel type" 2 "$medgen" sample --checkpoint "$ck" --out "$out/x.nrrd" --pixel-type long
check "--pixel-type for PNGs" 2 "$medgen" sample --checkpoint "$ck" --out "$out/pngs/" --pixel-type short
check "a DICOM series over one" 1 "$medgen" sample --checkpoint "$ck" --n 2 --steps 2 --out "$out/ddpm-dicom/" \
  --format dicom
said "not an empty directory" "writing a series over another must be refused"
[ -e "$out/x.nrrd" ] || [ -e "$out/pngs" ] && fail "a refused sample wrote something"
exit $failed
