#!/bin/sh
# train.sh: the recipe of MedGen's shipped feature extractor (README.md here): a classifier trained with
# `medgen train --model classifier` on real MedNIST at 64x64, every tenth image of each class (sorted names) held out
# and scored, copied to mednist64-v1.safetensors next to this script with its recipe and held-out accuracy as notes.
#
#   sh Logic/Eval/FeatureExtractor/train.sh BUILD_DIR WORK_DIR
#
# BUILD_DIR holds a Release build (Tools/medgen/medgen); WORK_DIR receives the extracted data (when
# ../shared/data/MedNIST-64.tar.gz is used), the split (hard links: train/ and heldout/), the run and its log.
# MEDGEN_SHARED_DATA names the folder of MedNIST-64.tar.gz (default: ../shared/data beside the repository).
# THREADS [all cores] changes only the speed: the weights are the same on any thread count.
# The settings below are the recipe: changing any of them makes another extractor, which needs a new VERSION.
set -eu
build=${1:?usage: train.sh BUILD_DIR WORK_DIR}
work=${2:?usage: train.sh BUILD_DIR WORK_DIR}
here=$(cd "$(dirname "$0")" && pwd)
data_tar=${MEDGEN_SHARED_DATA:-$here/../../../../shared/data}/MedNIST-64.tar.gz
VERSION=mednist64-v1 SIZE=64 WIDTH=16 STEPS=1000 BATCH=64 SEED=1
threads=${THREADS:+--threads $THREADS}
medgen=$build/Tools/medgen/medgen
out=$here/$VERSION.safetensors
[ -f "$data_tar" ] || { echo "MedNIST not found at $data_tar" >&2; exit 1; }
[ -x "$medgen" ] || { echo "$build lacks Tools/medgen/medgen" >&2; exit 1; }
mkdir -p "$work"
work=$(cd "$work" && pwd)
[ -d "$work/MedNIST" ] || tar -xzf "$data_tar" -C "$work"

# the split: split/train/<class>/ (nine tenths) and split/heldout/<class>/ (every tenth image, sorted names)
split=$work/split
if [ ! -f "$split/done" ]; then
  rm -rf "$split"
  for class_dir in "$work"/MedNIST/*/; do
    class=$(basename "$class_dir")
    mkdir -p "$split/train/$class" "$split/heldout/$class"
    LC_ALL=C ls "$class_dir" | awk 'NR % 10 != 1' | sed "s|^|$class_dir|" | xargs ln -t "$split/train/$class"
    LC_ALL=C ls "$class_dir" | awk 'NR % 10 == 1' | sed "s|^|$class_dir|" | xargs ln -t "$split/heldout/$class"
  done
  touch "$split/done"
fi

recipe="medgen train --model classifier --data train --val heldout --size $SIZE --width $WIDTH --steps $STEPS"
recipe="$recipe --batch $BATCH --seed $SEED (MedNIST-64; heldout: every tenth image of each class, sorted names)"
run=$work/run-$VERSION
rm -rf "$run"
# shellcheck disable=SC2086
"$medgen" train --model classifier --data "$split/train" --val "$split/heldout" --out "$run" --size "$SIZE" \
  --width "$WIDTH" --steps "$STEPS" --batch "$BATCH" --seed "$SEED" --note "run.feature_extractor=$VERSION" \
  --note "run.recipe=$recipe" $threads | tee "$work/$VERSION.log"
# medgen writes the checkpoint only when everything worked (tee hides its exit status)
[ -f "$run/checkpoint.safetensors" ] || { echo "training failed: see $work/$VERSION.log" >&2; exit 1; }
cp "$run/checkpoint.safetensors" "$out.tmp"
mv "$out.tmp" "$out"
"$medgen" info "$out"
