#!/bin/sh
# test_medgen_volumes.sh MEDGEN MAKE_VOLUMES SCRATCH_DIR CT: `medgen train` on volumes, end to end on the small
# synthetic volumes medgenMakeTestVolumes writes (see its header for what each holds): NIfTI + NRRD + a DICOM series
# give the slice counts their foreground says, and the checkpoint notes how they were read (pixel type, axis, mm per
# pixel); a folder of class folders gives two classes; a label map gives its classes; a folder of 2D NIfTI images
# stays a 2D image folder; Ctrl-C then --resume (which re-reads the volumes and label map from the notes) equals an
# uninterrupted run bit for bit; every bad input exits non-zero with a message naming the file and the problem, and
# leaves no run folder; and a few steps on the real head CT (CT, skipped when absent) keep its pixel type.
medgen="$1"
make_volumes="$2"
dir="$3"
ct="$4"
# shellcheck source-path=SCRIPTDIR source=cli_test_lib.sh
. "$(dirname "$0")/cli_test_lib.sh"
rm -rf "$dir" && mkdir -p "$dir" || exit 1
vols="$dir/volumes"
"$make_volumes" "$vols" || { echo "FAIL: $make_volumes could not write the test volumes"; exit 1; }
tiny="--batch 4 --threads 2 --base-channels 8 --channel-mult 1,2 --attention 0,1 --head-channels 8 --groups 4
  --temb-channels 16"

# NIfTI, NRRD and a DICOM series in one run: 10 + 6 + 6 foreground slices of 24 x 0.9 mm in 16 pixels
run="$dir/run"
# shellcheck disable=SC2086
check "train on NIfTI, NRRD and DICOM" 0 "$medgen" train --model ddpm --data "$vols/phantom.nii.gz" \
  "$vols/phantom.nrrd" "$vols/dicom" --out "$run" --size 16 --steps 2 $tiny
said "phantom.nii.gz: 10 axial slices$" "the NIfTI phantom should give its 10 foreground slices"
said "phantom.nrrd: 6 axial slices$" "the NRRD phantom should give its 6 foreground slices"
said "dicom: 6 axial slices$" "the DICOM series should give its 6 foreground slices"
said "3 volumes: 22 slices at 16x16, 1.3[45][0-9]* mm per pixel" "the slices should be counted and sized"
check "info on a volume run" 0 "$medgen" info "$run/checkpoint.safetensors"
said "^notes: .*axis = axial" "medgen info should give the run's notes"
said "^  run.pixel_type: short$" "the notes should keep the volumes' pixel type"
said "^  run.axis: axial$" "the notes should keep the axis"
said "^  run.mm_per_pixel: 1.3[45][0-9]*$" "the notes should keep the pixel size"
said "^  run.window: percentiles$" "the notes should keep the normalization"
# shellcheck disable=SC2086
check "coronal slices" 0 "$medgen" train --model ddpm --data "$vols/phantom.nii.gz" --axis coronal \
  --out "$dir/coronal" --size 16 --steps 1 $tiny
said "phantom.nii.gz: 14 coronal slices$" "coronal slices should be the 14 rows holding tissue"
check "a GAN on volumes" 0 "$medgen" train --model gan --data "$vols/phantom.nrrd" --out "$dir/gan" --steps 1 \
  --batch 2 --latent 8 --width 4
said "6 slices at 64x64" "volumes without --size should give 64x64 slices"

# a folder of class folders of volumes (a DICOM series in one), and a label map
# shellcheck disable=SC2086
check "train on class folders of volumes" 0 "$medgen" train --model ddpm --data "$vols/classes" --out "$dir/classes" \
  --size 16 --steps 1 $tiny
said "box/series: 10 axial slices, class box$" "a DICOM series in a class folder should take its class"
said "disk/disk2.nrrd: 10 axial slices, class disk$" "a volume in a class folder should take its class"
said "4 volumes: 40 slices .*classes: box 20, disk 20" "the class folders should give two classes"
# shellcheck disable=SC2086
check "train with a label map" 0 "$medgen" train --model ddpm --data "$vols/phantom.nii.gz" \
  --labels "$vols/labels.nii.gz" --out "$dir/labels" --size 16 --steps 1 $tiny
said "classes: background 2, label 1 4, label 3 4" "the label map should give each slice its class"
check "info on a label-map run" 0 "$medgen" info "$dir/labels/checkpoint.safetensors"
said "classes: background, label 1, label 3" "the label-map run's classes should be in the checkpoint"
said "^  run.labels: $vols/labels.nii.gz$" "the notes should keep the label map"

# shellcheck disable=SC2086
check "a folder of 2D NIfTI images" 0 "$medgen" train --model ddpm --data "$vols/flat" --out "$dir/flat" --size 16 \
  --steps 1 $tiny
said "flat: 4 images at 16x16; classes: one 2, two 2" "2D NIfTI images in class folders should stay 2D images"

# Ctrl-C, then --resume (volumes, label map, window and axis from the notes), equals an uninterrupted run. A constant
# learning rate lets the interrupted run ask for more steps than it will take.
same="--data $vols/phantom.nii.gz --labels $vols/labels.nii.gz --axis sagittal --window -1000,200 --size 16"
same="$same --warmup 0 --min-lr-ratio 1 --checkpoint-every 1000 --seed 11"
# shellcheck disable=SC2086
"$medgen" train --model ddpm $same --out "$dir/cancel" --steps 100000 $tiny >"$dir/cancel.log" 2>"$dir/cancel.err" &
interrupt $! "$dir/cancel.log"
[ "$got" -eq 1 ] || fail "an interrupted run must exit 1, got $got"
stopped=$(sed -n 's/.*interrupted at step \([0-9]*\);.*/\1/p' "$dir/cancel.err")
[ -n "$stopped" ] || { fail "an interrupted run must say where it stopped"; cat "$dir/cancel.err"; }
total=$((${stopped:-0} + 3))
check "resume the interrupted run" 0 "$medgen" train --resume "$dir/cancel" --steps "$total" --threads 1
said "phantom.nii.gz: [0-9]* sagittal slices, classes from $vols/labels.nii.gz" \
  "the resumed run should re-read the volume and its label map as before"
# shellcheck disable=SC2086
check "the same run uninterrupted" 0 "$medgen" train --model ddpm $same --out "$dir/straight" --steps "$total" $tiny
cmp -s "$dir/cancel/checkpoint.safetensors" "$dir/straight/checkpoint.safetensors" ||
  fail "an interrupted and resumed run should end with the uninterrupted run's checkpoint (step $total)"

# bad input: a non-zero exit, the file and the problem named, no run folder
bad() { # bad DESCRIPTION EXIT PATTERN ARGS...
  what="$1"; want="$2"; pattern="$3"; shift 3
  # shellcheck disable=SC2086
  check "$what" "$want" "$medgen" train --model ddpm --out "$dir/bad" --size 16 --steps 1 "$@" $tiny
  said "$pattern" "$what: the message should say \"$pattern\""
  [ -e "$dir/bad" ] && { fail "$what: a failed run left its folder"; rm -rf "$dir/bad"; }
}
mkdir -p "$dir/empty_dicom" "$dir/pngs" || exit 1
make_pngs "$dir/pngs" <<'PY' || exit 1
for i in range(2):
    png(f"{sys.argv[1]}/{i}.png", [[(x * 7 + y * i) % 256 for x in range(16)] for y in range(16)])
PY
bad "a truncated NIfTI" 1 "$vols/truncated.nii.gz: truncated or damaged compressed data" \
  --data "$vols/truncated.nii.gz"
# cut in its voxels, the gzip stream's last bytes lost (ITK 5.2 alone trains on the garbage)
head -c $(($(wc -c <"$vols/phantom.nii.gz") - 12)) "$vols/phantom.nii.gz" >"$dir/cut.nii.gz" || exit 1
bad "a .nii.gz cut in its voxels" 1 "$dir/cut.nii.gz: truncated or damaged compressed data" --data "$dir/cut.nii.gz"
bad "a 4D volume" 1 "$vols/four_d.nrrd: is a 4D image" --data "$vols/four_d.nrrd"
bad "an RGB volume" 1 "$vols/rgb.mha: has 3 components per voxel" --data "$vols/rgb.mha"
bad "a constant volume" 1 "$vols/constant.nii.gz: is constant" --data "$vols/phantom.nrrd" "$vols/constant.nii.gz"
bad "a NaN voxel" 1 "$vols/nan.nrrd: has a NaN voxel" --data "$vols/nan.nrrd"
bad "a label map of another size" 1 \
  "$vols/labels_size.nii.gz: size 24 x 20 x 13 voxels, but the volume $vols/phantom.nii.gz has 24 x 20 x 14" \
  --data "$vols/phantom.nii.gz" --labels "$vols/labels_size.nii.gz"
bad "a label map of another spacing" 1 "$vols/labels_spacing.nii.gz: spacing 0.9 x 0.9 x 3 mm, but the volume" \
  --data "$vols/phantom.nii.gz" --labels "$vols/labels_spacing.nii.gz"
bad "a non-integer label map" 1 "$vols/labels_fraction.nrrd: has a non-integer label value (1.5" \
  --data "$vols/phantom.nii.gz" --labels "$vols/labels_fraction.nrrd"
bad "a file that is not an image" 1 "$vols/not_an_image.nii: cannot be read: not an image" \
  --data "$vols/not_an_image.nii"
bad "a text file" 1 "$vols/classes/README.txt: not a volume" --data "$vols/phantom.nrrd" "$vols/classes/README.txt"
bad "a missing volume" 1 "$dir/missing.nii.gz: does not exist" --data "$dir/missing.nii.gz"
bad "a missing folder" 1 "$dir/missing: does not exist" --data "$dir/missing"
bad "an empty DICOM folder" 1 "$dir/empty_dicom: no images: the folder is empty" --data "$dir/empty_dicom"
bad "an empty DICOM folder among volumes" 1 "$dir/empty_dicom: a folder without a DICOM series" \
  --data "$vols/phantom.nrrd" "$dir/empty_dicom"
bad "2D images mixed with volumes" 1 "$dir/pngs: a folder without a DICOM series.*cannot be mixed" \
  --data "$dir/pngs" "$vols/phantom.nrrd"
bad "--axis on 2D images" 2 "apply to volumes, and $dir/pngs holds 2D images" --data "$dir/pngs" --axis coronal
bad "one label map for two volumes" 2 "--labels gives 1 label map for 2 volumes" \
  --data "$vols/phantom.nii.gz" "$vols/phantom.nrrd" --labels "$vols/labels.nii.gz"
bad "a bad window" 2 "invalid value '1000,-1000' for --window" --data "$vols/phantom.nrrd" --window 1000,-1000

# the real head CT in Hounsfield units: int16 stays "short"
if [ -f "$ct" ]; then
  # shellcheck disable=SC2086
  check "train on the head CT" 0 "$medgen" train --model ddpm --data "$ct" --window -1000,1000 --out "$dir/ct" \
    --size 32 --steps 2 $tiny
  said "cranium_ct.nii.gz: [0-9]* axial slices" "the CT's slices should be counted"
  check "info on the CT run" 0 "$medgen" info "$dir/ct/checkpoint.safetensors"
  said "^  run.pixel_type: short$" "the CT run should keep the CT's pixel type (short)"
  said "^  run.window: -1000,1000$" "the CT run should keep its window"
  said "^data: intensities -1000 to 1000;" "the CT run should normalize by its window"
else
  echo "skip: the head CT run ($ct is absent)"
fi
exit $failed
