#!/bin/sh
# cuda_vs_torch.sh: MedGen's CUDA backend against PyTorch on the same GPU, the one command to run on a GPU machine.
# Optionally runs the test suite first (TESTS=1), then `medgen bench ddpm --device cuda --vs-torch` for each preset
# (unet-s, unet-monai) at each training batch (64, 128), at the presets' image size (64x64, 1 channel), and times a
# DDIM run of 64 images in 50 steps (eta 0, one batch) with the first batch's run. Every time is measured by MedGen
# and by PyTorch (Testing/Python/unet_reference.py: the same architecture, training step and DDIM loop, eager,
# cuDNN autotuning on) in the same run, on the same card. Two tables: float32 (TF32 off on both sides), then TF32 on
# both sides (PyTorch: torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32).
#
#   sh Testing/Benchmarks/cuda_vs_torch.sh BUILD_DIR RESULTS.md
#
# BUILD_DIR: a Release build with the CUDA backend (cmake -DMedGen_USE_CUDA=ON). RESULTS.md receives the card
# (nvidia-smi's name, driver, memory), the date, the versions, the commands and the tables; each benchmark's full
# output goes to RESULTS_logs/ beside it. Fails before measuring anything when there is no GPU, when PyTorch cannot
# use it, or when MedGen cannot. Settings from the environment (defaults in brackets): PYTHON [python3: the Python
# whose PyTorch has CUDA; passed to medgen as MEDGEN_PYTHON], PRESETS [unet-s unet-monai], BATCHES [64 128],
# PRECISIONS [fp32 tf32], SIZE [64], STEPS [8 timed steps after 2 warm-up], SAMPLE_IMAGES [64], DDIM_STEPS [50],
# TESTS [0; 1 runs ctest in BUILD_DIR first and records its summary]. To fit a per-command time limit, split the run:
# PRECISIONS=fp32 ... then PRECISIONS=tf32 ... into two results files.
set -eu
if [ $# -ne 2 ]; then
  echo "usage: sh Testing/Benchmarks/cuda_vs_torch.sh BUILD_DIR RESULTS.md" >&2
  exit 2
fi
build=$1 out=$2
PYTHON=${PYTHON:-python3} PRESETS=${PRESETS:-unet-s unet-monai} BATCHES=${BATCHES:-64 128}
PRECISIONS=${PRECISIONS:-fp32 tf32} SIZE=${SIZE:-64} STEPS=${STEPS:-8} SAMPLE_IMAGES=${SAMPLE_IMAGES:-64}
DDIM_STEPS=${DDIM_STEPS:-50} TESTS=${TESTS:-0}
die() {
  echo "cuda_vs_torch.sh: $*" >&2
  exit 1
}
medgen=$build/Tools/medgen/medgen
source_dir=$(cd "$(dirname "$0")/../.." && pwd)

# ---- the GPU, PyTorch's view of it, MedGen's view of it ----
command -v nvidia-smi >/dev/null 2>&1 ||
  die "no GPU: nvidia-smi is not installed. This benchmark needs an NVIDIA GPU and its driver: run it on a GPU machine."
card=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1) ||
  die "no GPU: nvidia-smi finds no usable NVIDIA GPU ($(echo "$card" | head -n 1))."
card=$(echo "$card" | head -n 1)
[ -n "$card" ] || die "no GPU: nvidia-smi lists no NVIDIA GPU."
gpus=$(nvidia-smi -L | wc -l)
command -v "$PYTHON" >/dev/null 2>&1 || die "PYTHON=$PYTHON not found: set PYTHON to the Python that has PyTorch."
torch_info=$("$PYTHON" -c '
import sys
try:
    import torch
except ImportError as e:
    sys.exit("cannot import torch (%s)" % e)
if not torch.cuda.is_available():
    sys.exit("PyTorch %s sees no CUDA device (built for CUDA %s)" % (torch.__version__, torch.version.cuda))
print("PyTorch %s, CUDA %s, cuDNN %s, device 0: %s" % (torch.__version__, torch.version.cuda,
      torch.backends.cudnn.version(), torch.cuda.get_device_name(0)))' 2>&1) ||
  die "PyTorch cannot use the GPU with $PYTHON: $torch_info"
[ -x "$medgen" ] || die "$medgen not found: build MedGen with the CUDA backend first (cmake -DMedGen_USE_CUDA=ON)."
MEDGEN_PYTHON=$(command -v "$PYTHON")
export MEDGEN_PYTHON
logs=${out%.md}_logs
mkdir -p "$logs"
"$medgen" bench ddpm --device cuda --size 16 --batch 1 --steps 1 >"$logs/check.log" 2>&1 ||
  die "MedGen cannot run on the GPU: $(tail -n 3 "$logs/check.log")"

# ---- the test suite ----
tests="not run (TESTS=1 runs it)"
if [ "$TESTS" = 1 ]; then
  echo "cuda_vs_torch.sh: running the test suite (log: $logs/ctest.log)" >&2
  status=passed
  (cd "$build" && ctest -j "$(nproc)" --output-on-failure) >"$logs/ctest.log" 2>&1 || status=FAILED
  tests="$status: $(grep -E 'tests passed|tests failed' "$logs/ctest.log" | tail -n 1)"
  # ctest's closing list: "  12 - test_name (Failed)", one line per test that did not pass
  failed=$(sed -n 's/^[[:space:]]*[0-9]* - \([^ ]*\) (.*)$/\1/p' "$logs/ctest.log" | tr '\n' ' ')
  [ -z "$failed" ] || tests="$tests; failing: $failed"
fi

# ---- the benchmarks ----
# value KEY: KEY's value in $log's result line (key=value pairs, starting with train_step_s=)
value() { grep '^train_step_s=' "$log" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# row WHAT IMAGES OURS_S TORCH_S: a table row; images/s = IMAGES / time
row() {
  awk -v what="$1" -v n="$2" -v a="$3" -v b="$4" 'BEGIN {
    printf "| %s | %.4f | %.4f | %.2f | %.1f | %.1f |\n", what, a, b, a / b, n / a, n / b }'
}
commands=
tables=
for precision in $PRECISIONS; do
  case $precision in
    fp32) flag='' title="float32 (TF32 off in MedGen and PyTorch)" ;;
    tf32) flag=--tf32 title="TF32 (on in MedGen and PyTorch)" ;;
    *) die "PRECISIONS: unknown precision '$precision' (fp32, tf32)" ;;
  esac
  table="### $title

| model, measure | MedGen s | PyTorch s | ratio (MedGen / PyTorch) | MedGen images/s | PyTorch images/s |
|---|---|---|---|---|---|"
  for preset in $PRESETS; do
    first=1
    for batch in $BATCHES; do
      sample=0 ddim=
      if [ "$first" = 1 ] && [ "$SAMPLE_IMAGES" != 0 ]; then # DDIM once per preset and precision: batch-independent
        sample=$SAMPLE_IMAGES ddim="--sample-images $SAMPLE_IMAGES --ddim-steps $DDIM_STEPS"
      fi
      first=0
      args="--device cuda${flag:+ $flag} --preset $preset --size $SIZE --batch $batch --steps $STEPS"
      args="$args${ddim:+ $ddim} --vs-torch"
      cmd="medgen bench ddpm $args"
      log=$logs/$precision-$preset-b$batch.log
      echo "cuda_vs_torch.sh: $cmd" >&2
      # shellcheck disable=SC2086 # args: words without spaces of their own
      "$medgen" bench ddpm $args >"$log" 2>&1 || die "the benchmark failed (log: $log): $(tail -n 3 "$log")"
      [ "$(value device)" = cuda ] || die "the benchmark did not run on the GPU (log: $log)"
      commands="$commands
    $cmd"
      table="$table
$(row "$preset, train step, batch $batch" "$batch" "$(value train_step_s)" "$(value torch_train_step_s)")
$(row "$preset, sampling step (one UNet evaluation), batch $batch" "$batch" "$(value sample_step_s)" \
        "$(value torch_sample_step_s)")"
      [ "$sample" = 0 ] || table="$table
$(row "$preset, DDIM sampling of $sample images, $DDIM_STEPS steps" "$sample" "$(value ddim_s)" \
        "$(value torch_ddim_s)")"
    done
  done
  tables="$tables

$table"
done

commit=$(git -C "$source_dir" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$source_dir" status --porcelain --untracked-files=no 2>/dev/null | head -n 1)
[ -z "$dirty" ] || commit="$commit (with uncommitted changes)"
cat >"$out.tmp" <<EOF
# MedGen CUDA vs PyTorch on the same GPU

- Date: $(date -u '+%Y-%m-%d %H:%M UTC')
- Card: $card (nvidia-smi: name, driver, memory; $gpus GPU(s) on the machine, the benchmarks use device 0)
- MedGen: $("$medgen" --version), commit $commit, CUDA backend ($build)
- $torch_info; $MEDGEN_PYTHON
- Host: $(nproc) CPU cores, $(uname -sr)
- Test suite (ctest in $build): $tests
- Model input: ${SIZE}x${SIZE}, 1 channel (the presets are defined at 64x64), unconditional, 1000-step linear schedule.
- Training step as \`medgen train\` takes it: a batch drawn on the host from 64 random images and uploaded, noise,
  forward, MSE, backward, gradient-norm clipping, AdamW, EMA; median of $STEPS steps after 2 warm-up steps.
  Sampling step: one no-grad UNet evaluation of the batch (median of $STEPS after 2). DDIM: $SAMPLE_IMAGES images in one
  batch, $DDIM_STEPS steps, eta 0, from noise to images in host memory; median of 3 runs after a 2-step warm-up.
- PyTorch: eager, the same architecture (Testing/Python/unet_reference.py), cuDNN autotuning on,
  torch.cuda.synchronize() ending every timed interval. Ratios below 1: MedGen is faster; the target is at most 1.

Commands (from $build/Tools/medgen; full outputs in $logs):
$commands
$tables
EOF
mv "$out.tmp" "$out"
echo "cuda_vs_torch.sh: wrote $out" >&2
