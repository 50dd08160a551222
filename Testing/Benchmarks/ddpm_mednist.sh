#!/bin/sh
# ddpm_mednist.sh: the diffusion quality benchmark. Trains a class-conditional DDPM on MedNIST with `medgen train`,
# draws images of every class with `medgen sample`, and judges them (medgen_bench_quality): a CNN trained on real
# MedNIST (held-out accuracy printed) says how often each sample shows the class it was asked for; diversity and
# nearest-training-image distances are compared with held-out real images'. The model trains on all of MedNIST, the
# judge's held-out tenth included, so its memorization numbers are only indicative (gan_mednist.sh trains on the
# training part only).
#
#   sh Testing/Benchmarks/ddpm_mednist.sh BUILD_DIR WORK_DIR
#
# BUILD_DIR holds a Release build (medgen, medgen_bench_quality); WORK_DIR receives the extracted data, the run
# and the samples. Settings come from the environment (defaults in brackets): SIZE [32], STEPS [3500], BATCH [32],
# LR [1e-3], N [600] samples, SAMPLER [dpm++2m], SAMPLE_STEPS [20], GUIDANCE [2], THREADS [all cores].
# The model is a small UNet (base 32, multipliers 1,2,2, attention at 8x8 and in the middle) sized for a 2-core
# CPU; pass MODEL_ARGS to change it (e.g. MODEL_ARGS="--preset unet-s").
set -eu
build=${1:?usage: ddpm_mednist.sh BUILD_DIR WORK_DIR}
work=${2:?usage: ddpm_mednist.sh BUILD_DIR WORK_DIR}
data_tar=${MEDGEN_SHARED_DATA:-$(dirname "$0")/../../../shared/data}/MedNIST-64.tar.gz
SIZE=${SIZE:-32} STEPS=${STEPS:-3500} BATCH=${BATCH:-32} LR=${LR:-1e-3} N=${N:-600}
SAMPLER=${SAMPLER:-dpm++2m} SAMPLE_STEPS=${SAMPLE_STEPS:-20} GUIDANCE=${GUIDANCE:-2}
MODEL_ARGS=${MODEL_ARGS:---base-channels 32 --channel-mult 1,2,2 --attention 0,0,1 --mid-attention 1 --head-channels 32 --groups 8 --temb-channels 128}
threads=${THREADS:+--threads $THREADS}
medgen=$build/Tools/medgen/medgen
judge=$build/Testing/Benchmarks/medgen_bench_quality
[ -f "$data_tar" ] || { echo "MedNIST not found at $data_tar" >&2; exit 1; }
mkdir -p "$work"
[ -d "$work/MedNIST" ] || tar -xzf "$data_tar" -C "$work"

run=$work/run
if [ -f "$run/checkpoint.safetensors" ]; then
  # an earlier, interrupted run continues exactly where it stopped
  step=$("$medgen" info "$run/checkpoint.safetensors" | sed -n 's/^ *step: *//p' | head -1)
  [ "$step" = "$STEPS" ] || "$medgen" train --resume "$run" --steps "$STEPS" $threads
else
  # shellcheck disable=SC2086
  "$medgen" train --model ddpm --data "$work/MedNIST" --size "$SIZE" --out "$run" --steps "$STEPS" \
    --batch "$BATCH" --lr "$LR" --warmup 300 --checkpoint-every 500 $MODEL_ARGS $threads
fi
"$medgen" sample --checkpoint "$run/checkpoint.safetensors" --n "$N" --sampler "$SAMPLER" --steps "$SAMPLE_STEPS" \
  --guidance "$GUIDANCE" --seed 7 --batch 60 --out "$work/samples.nii.gz" $threads
"$medgen" sample --checkpoint "$run/checkpoint.safetensors" --n 48 --sampler "$SAMPLER" --steps "$SAMPLE_STEPS" \
  --guidance "$GUIDANCE" --seed 1 --out "$work/grid.nii.gz" --grid "$work/grid.png" $threads
"$judge" --real "$work/MedNIST" --samples "$work/samples.nii.gz" --size "$SIZE" $threads
