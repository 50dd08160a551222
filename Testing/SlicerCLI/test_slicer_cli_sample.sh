#!/bin/sh
# test_slicer_cli_sample.sh MEDGENSAMPLE SCRATCH_DIR TRAIN_DIR: MedGenSample draws from test_slicer_cli_train's
# checkpoint (TRAIN_DIR) into NRRD volumes: the header marks them synthetic (MedGen:=synthetic, the model's
# fingerprint, seed) and gives the training volume's pixel type (short), numberOfSamples slices of the model's size
# and the reference volume's geometry (space directions and origin); progress rises to 1; the same seed gives the
# same bytes on 1 and 2 threads, another seed other images. A GAN's samples and a
# class's are marked as well.
sample="$1"
dir="$2"
model="$3/model.safetensors"
volume="$3/volume.nrrd"
# shellcheck source-path=SCRIPTDIR source=../Engine/cli_test_lib.sh
. "$(dirname "$0")/../Engine/cli_test_lib.sh"
rm -rf "$dir" && mkdir -p "$dir" || exit 1
[ -s "$model" ] || { echo "FAIL: no $model: test_slicer_cli_train makes it"; exit 1; }
check "sample" 0 "$sample" --model "$model" --outputVolume "$dir/a.nrrd" --referenceVolume "$volume" \
  --numberOfSamples 4 --steps 5 --seed 7 --threads 1
said "^<filter-progress>1.0000</filter-progress>" "progress must reach 1"
said "^<filter-end>" "the log lacks <filter-end>"
header() { sed '/^$/q' "$1"; } # an NRRD header ends at its first empty line
header "$dir/a.nrrd" >"$dir/a.header"
for field in "MedGen:=synthetic" "MedGen_ModelType:=ddpm" "MedGen_Sampler:=ddim" "MedGen_Steps:=5" \
  "MedGen_Seed:=7" "MedGen_ModelFingerprint:=fnv1a64:" "type: short" "sizes: 16 16 4"; do
  grep -q "^$field" "$dir/a.header" || fail "the header lacks \"$field\""
done
/usr/bin/python3 - "$volume" "$dir/a.header" <<'PY' || fail "the output's geometry is not the reference volume's"
import re, sys
def geometry(path):
    text = open(path, "rb").read().split(b"\n\n")[0].decode("ascii", "replace")
    field = lambda key: re.search("^" + key + ": (.*)$", text, re.M).group(1)
    numbers = lambda key: [float(v) for v in re.findall(r"[-+0-9.eE]+", field(key))]
    return numbers("space directions"), numbers("space origin")
reference, output = geometry(sys.argv[1]), geometry(sys.argv[2])
ok = all(abs(a - b) < 1e-9 for r, o in zip(reference, output) for a, b in zip(r, o))
print("reference", reference, "\noutput   ", output)
sys.exit(0 if ok and len(output[0]) == 9 and len(output[1]) == 3 else 1)
PY
check "the same seed on 2 threads" 0 "$sample" --model "$model" --outputVolume "$dir/b.nrrd" \
  --referenceVolume "$volume" --numberOfSamples 4 --steps 5 --seed 7 --threads 2
# The header names the output file nowhere, so the same draw gives the same bytes.
cmp -s "$dir/a.nrrd" "$dir/b.nrrd" || fail "the same seed gave different volumes on 1 and 2 threads"
check "another seed" 0 "$sample" --model "$model" --outputVolume "$dir/c.nrrd" --referenceVolume "$volume" \
  --numberOfSamples 4 --steps 5 --seed 8
cmp -s "$dir/a.nrrd" "$dir/c.nrrd" && fail "another seed gave the same volume"
check "sample a GAN" 0 "$sample" --model "$3/gan.safetensors" --outputVolume "$dir/gan.nrrd" --numberOfSamples 3 \
  --truncation 1.5
header "$dir/gan.nrrd" >"$dir/gan.header"
for field in "MedGen:=synthetic" "MedGen_ModelType:=gan" "MedGen_Truncation:=1.5" "type: short" "sizes: 32 32 3"; do
  grep -q "^$field" "$dir/gan.header" || fail "the GAN sample's header lacks \"$field\""
done
check "sample a class" 0 "$sample" --model "$3/labelled.safetensors" --outputVolume "$dir/class.nrrd" \
  --className "label 2" --guidance 2 --steps 3 --numberOfSamples 2
header "$dir/class.nrrd" | grep -q "^MedGen_Class:=1$" || fail "class \"label 2\" should be recorded as class 1"
for temporary in "$dir"/.*.medgen-*; do [ -e "$temporary" ] && fail "a temporary file was left: $temporary"; done
exit $failed
