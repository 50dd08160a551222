#!/bin/sh
# test_medgen_folders.sh MEDGEN WRITE_FOLDERS SCRATCH_DIR: `medgen train` on folders of 2D images in the formats ITK
# reads, end to end: mgItkImageReadTest --write-folders writes class folders of DICOM files (with and without the
# .dcm extension, HU through a rescale, each its own series) beside a PNG, and 16-bit TIFFs beside an RGB BMP. A DDPM
# trains on them (the 16-bit files scale the folder by its range) and on the DICOM folder alone (2D images, not a
# series), a GAN resizes them to 32 pixels (a second read), and a folder with a garbage file or a multi-frame DICOM
# file fails naming it, leaving no run folder.
medgen="$1"
write_folders="$2"
dir="$3"
# shellcheck source-path=SCRIPTDIR source=cli_test_lib.sh
. "$(dirname "$0")/cli_test_lib.sh"
rm -rf "$dir" && mkdir -p "$dir" || exit 1
data="$dir/folders"
"$write_folders" --write-folders "$data" || { echo "FAIL: $write_folders could not write the test folders"; exit 1; }
tiny="--batch 4 --threads 2 --base-channels 8 --channel-mult 1,2 --attention 0,1 --head-channels 8 --groups 4
  --temb-channels 16"

# shellcheck disable=SC2086
check "train on DICOM, TIFF, BMP and PNG" 0 "$medgen" train --model ddpm --data "$data/good" --out "$dir/run" \
  --steps 2 $tiny
said "good: 8 images at 16x16; classes: dx 4, tiff 4" "every DICOM, TIFF, BMP and PNG file should be read"
check "info on the run" 0 "$medgen" info "$dir/run/checkpoint.safetensors"
said "classes: dx, tiff" "the checkpoint should keep the class folders' names"
said "intensities -1024 to 39000" "the range should run from the DICOM's -1024 HU (rescaled) to the TIFFs' 39000"
# shellcheck disable=SC2086
check "a folder of DICOM files, each its own series" 0 "$medgen" train --model ddpm --data "$data/good/dx" \
  --out "$dir/flat" --steps 1 $tiny
said "dx: 4 images at 16x16" "DICOM files of separate series should be 2D images, not one volume"
check "a GAN resizes them" 0 "$medgen" train --model gan --data "$data/good" --out "$dir/gan" --steps 1 --batch 2 \
  --threads 2 --latent 8 --width 4
said "resizing them to 32x32" "a GAN should read the folder again at 32 pixels"
said "good: 8 images at 32x32" "the second read should take every file too"

bad() { # bad DESCRIPTION PATTERN FOLDER
  # shellcheck disable=SC2086
  check "$1" 1 "$medgen" train --model ddpm --data "$3" --out "$dir/bad" --steps 1 $tiny
  said "$2" "$1: the message should say \"$2\""
  [ -e "$dir/bad" ] && { fail "$1: a failed run left its folder"; rm -rf "$dir/bad"; }
}
bad "a garbage file" "$data/garbage/dx/IM0099: not an image MedGen reads" "$data/garbage"
bad "a multi-frame DICOM file" "$data/multiframe/dx/cine.dcm: a multi-frame DICOM file (3 frames)" \
  "$data/multiframe"
exit $failed
