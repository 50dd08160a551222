#!/bin/sh
# augment_pneumonia.sh: does synthetic data help a diagnostic model trained on little real data?
#
# On PneumoniaMNIST (normal / pneumonia chest X-rays, ../shared/data), for each seed and each share of the real
# training split (FRACTIONS, in percent; 100 = all 4,708 images):
#   1. a stratified random subset of the training split (the seed picks it; 100% takes everything);
#   2. a class-conditional GAN and a class-conditional diffusion model trained on that subset only;
#   3. as many synthetic images per class as the subset holds, from each model;
#   4. MedGen's CNN classifier trained three ways with the same seed and steps: on the real subset alone, and on
#      the real subset plus the GAN's or the diffusion model's images (`medgen bench augment`), each scored on the
#      real validation split (524 images): AUC of "pneumonia" and accuracy.
# Then the table of means, spreads and gains over seeds: RESULTS/augment_pneumonia.md.
#
#   sh Testing/Benchmarks/augment_pneumonia.sh BUILD_DIR WORK_DIR
#
# BUILD_DIR holds a Release build (Tools/medgen/medgen). WORK_DIR receives the extracted data, the subsets (hard
# links), the runs, the synthetic images and one result line per classifier. Every stage is skipped when its
# output exists, so an interrupted run continues where it stopped when the script is run again. Everything runs
# at SIZE x SIZE (the GAN needs a power of two: PneumoniaMNIST's 28x28 images are area-resized to 32x32).
# Settings come from the environment (defaults in brackets): SEEDS ["1 2 3"], FRACTIONS ["10 25 100"], SIZE [32],
# GAN_STEPS [1500], DDPM_STEPS [800], CLASSIFIER_STEPS [600], SAMPLER_STEPS [10], THREADS [all cores],
# RESULTS [Testing/Benchmarks/results].
set -eu
build=${1:?usage: augment_pneumonia.sh BUILD_DIR WORK_DIR}
work=${2:?usage: augment_pneumonia.sh BUILD_DIR WORK_DIR}
here=$(cd "$(dirname "$0")" && pwd)
data_tar=${MEDGEN_SHARED_DATA:-$here/../../../shared/data}/PneumoniaMNIST-28.tar.gz
SEEDS=${SEEDS:-1 2 3} FRACTIONS=${FRACTIONS:-10 25 100} SIZE=${SIZE:-32}
GAN_STEPS=${GAN_STEPS:-1500} DDPM_STEPS=${DDPM_STEPS:-800} CLASSIFIER_STEPS=${CLASSIFIER_STEPS:-600}
SAMPLER_STEPS=${SAMPLER_STEPS:-10} RESULTS=${RESULTS:-$here/results}
threads=${THREADS:+--threads $THREADS}
medgen=$build/Tools/medgen/medgen
[ -f "$data_tar" ] || { echo "PneumoniaMNIST not found at $data_tar" >&2; exit 1; }
[ -x "$medgen" ] || { echo "$build lacks Tools/medgen/medgen" >&2; exit 1; }
mkdir -p "$work" "$RESULTS"
work=$(cd "$work" && pwd)
[ -d "$work/PneumoniaMNIST" ] || tar -xzf "$data_tar" -C "$work"
train_dir=$work/PneumoniaMNIST/train
val_dir=$work/PneumoniaMNIST/val
classes=$(LC_ALL=C ls "$train_dir")
started=$(date +%s)

# subset PERCENT SEED: prints the subset's folder, made of hard links: in each class, the files whose
# sha256("SEED:name") sort first, PERCENT percent of the class (rounded, at least one)
subset() {
  u_pct=$1 u_seed=$2
  if [ "$u_pct" = 100 ]; then echo "$train_dir"; return; fi
  u_dir=$work/subsets/p$u_pct-s$u_seed
  if [ ! -f "$u_dir.done" ]; then
    rm -rf "$u_dir"
    for u_class in $classes; do
      mkdir -p "$u_dir/$u_class"
      u_total=$(LC_ALL=C ls "$train_dir/$u_class" | wc -l)
      u_keep=$(( (u_total * u_pct + 50) / 100 ))
      [ "$u_keep" -ge 1 ] || u_keep=1
      LC_ALL=C ls "$train_dir/$u_class" | while read -r u_f; do
        printf '%s %s\n' "$(printf '%s:%s' "$u_seed" "$u_f" | sha256sum | cut -c1-16)" "$u_f"
      done | LC_ALL=C sort | head -n "$u_keep" | cut -d" " -f2 | sed "s|^|$train_dir/$u_class/|" |
        xargs ln -t "$u_dir/$u_class"
    done
    touch "$u_dir.done"
  fi
  echo "$u_dir"
}

# Functions called directly share the caller's variables (POSIX sh has no locals): each prefixes its own.

# train RUN MODEL DATA SEED STEPS [options]: a new run, or the continuation of an interrupted one
train() {
  t_run=$1 t_model=$2 t_data=$3 t_seed=$4 t_steps=$5
  shift 5
  if [ -f "$t_run/checkpoint.safetensors" ]; then
    t_done=$("$medgen" info "$t_run/checkpoint.safetensors" | sed -n 's/^training: \([0-9]*\) of.*/\1/p')
    # shellcheck disable=SC2086
    [ "$t_done" = "$t_steps" ] || "$medgen" train --resume "$t_run" --steps "$t_steps" $threads
  else
    # shellcheck disable=SC2086
    "$medgen" train --model "$t_model" --data "$t_data" --size "$SIZE" --out "$t_run" --steps "$t_steps" \
      --batch 32 --seed "$t_seed" --checkpoint-every 200 "$@" $threads
  fi
}

# synthesize RUN DATA OUT SEED [options]: per class as many images as DATA holds, into OUT/<class>/ (PNG)
synthesize() {
  s_run=$1 s_data=$2 s_out=$3 s_seed=$4
  shift 4
  [ -f "$s_out.done" ] && return
  rm -rf "$s_out"
  mkdir -p "$s_out"
  for s_class in $classes; do
    s_n=$(LC_ALL=C ls "$s_data/$s_class" | wc -l)
    # shellcheck disable=SC2086
    "$medgen" sample --checkpoint "$s_run/checkpoint.safetensors" --class "$s_class" --n "$s_n" --seed "$s_seed" \
      --batch 100 --out "$s_out/$s_class/" "$@" $threads > /dev/null
  done
  touch "$s_out.done"
}

# classify NAME DATA SEED [--extra SYNTHETIC]: one result line (AUC, accuracy) in WORK/scores/NAME
classify() {
  c_name=$1 c_data=$2 c_seed=$3
  shift 3
  mkdir -p "$work/scores"
  [ -s "$work/scores/$c_name" ] && return
  # shellcheck disable=SC2086
  "$medgen" bench augment --train "$c_data" "$@" --val "$val_dir" --size "$SIZE" --seed "$c_seed" \
    --steps "$CLASSIFIER_STEPS" $threads > "$work/scores/$c_name.tmp"
  tail -n 1 "$work/scores/$c_name.tmp" > "$work/scores/$c_name"
  rm -f "$work/scores/$c_name.tmp"
}

for seed in $SEEDS; do
  for pct in $FRACTIONS; do
    data=$(subset "$pct" "$seed")
    tag=p$pct-s$seed
    echo "== $tag: $(find "$data" -type f -name '*.png' | wc -l) real training images"
    train "$work/runs/gan-$tag" gan "$data" "$seed" "$GAN_STEPS" --width 32 --latent 64
    train "$work/runs/ddpm-$tag" ddpm "$data" "$seed" "$DDPM_STEPS" --base-channels 16 --channel-mult 1,2,2 \
      --attention 0,0,0 --mid-attention 1 --head-channels 32 --groups 8 --temb-channels 64 --lr 1e-3 --warmup 100
    synthesize "$work/runs/gan-$tag" "$data" "$work/synthetic/gan-$tag" "$((seed + 100))"
    synthesize "$work/runs/ddpm-$tag" "$data" "$work/synthetic/ddpm-$tag" "$((seed + 100))" --sampler dpm++2m \
      --steps "$SAMPLER_STEPS"
    classify "real-$tag" "$data" "$seed"
    classify "gan-$tag" "$data" "$seed" --extra "$work/synthetic/gan-$tag"
    classify "ddpm-$tag" "$data" "$seed" --extra "$work/synthetic/ddpm-$tag"
  done
done

# the table: per share, the mean and sample standard deviation over seeds of each score, and of the paired gain
# (the same seed's score with synthetic images minus without)
field() { sed -n "s/.*$2=\([^ ]*\).*/\1/p" "$work/scores/$1"; }
stats() { awk '{ s += $1; q += $1 * $1; n++ } END { m = s / n; sd = n > 1 ? sqrt((q - n * m * m) / (n - 1)) : 0;
  if (sd < 0 || sd != sd) sd = 0; printf "%+.4f +- %.4f", m, sd }' | sed 's/^+//'; }
gains() { for seed in $SEEDS; do echo "$(field "$1-p$2-s$seed" "$3") $(field "real-p$2-s$seed" "$3")"; done |
  awk '{ print $1 - $2 }' | stats; }
scores() { for seed in $SEEDS; do field "$1-p$2-s$seed" "$3"; done | stats; }
{
  echo "# Augmentation benchmark: PneumoniaMNIST, real training data with and without synthetic images"
  echo
  echo "Written by \`Testing/Benchmarks/augment_pneumonia.sh\` on $(date -u +%Y-%m-%d) ($(nproc) cores; commit"
  echo "$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)). Settings: SEEDS='$SEEDS' FRACTIONS='$FRACTIONS' SIZE=$SIZE GAN_STEPS=$GAN_STEPS"
  echo "DDPM_STEPS=$DDPM_STEPS CLASSIFIER_STEPS=$CLASSIFIER_STEPS SAMPLER_STEPS=$SAMPLER_STEPS. Scores on the real validation split"
  echo "($(field "real-p100-s$(echo $SEEDS | cut -d' ' -f1)" val) images); mean +- standard deviation over seeds; gain = the same seed's score with"
  echo "synthetic images minus without."
  echo
  echo "| share | real | synthetic | classifier data | AUC | accuracy | AUC gain | accuracy gain |"
  echo "|---|---|---|---|---|---|---|---|"
  for pct in $FRACTIONS; do
    seed1=$(echo $SEEDS | cut -d' ' -f1)
    for kind in real gan ddpm; do
      case $kind in real) what="real only"; gain_auc="" gain_acc="" ;;
        gan) what="real + GAN"; gain_auc=$(gains gan "$pct" auc) gain_acc=$(gains gan "$pct" accuracy) ;;
        ddpm) what="real + DDPM"; gain_auc=$(gains ddpm "$pct" auc) gain_acc=$(gains ddpm "$pct" accuracy) ;;
      esac
      echo "| $pct% | $(field "$kind-p$pct-s$seed1" real) | $(field "$kind-p$pct-s$seed1" synthetic) | $what |" \
        "$(scores "$kind" "$pct" auc) | $(scores "$kind" "$pct" accuracy) | $gain_auc | $gain_acc |"
    done
  done
  echo
  echo "Every run (WORK/scores/<data>-p<share>-s<seed>):"
  echo
  echo '```'
  for pct in $FRACTIONS; do for seed in $SEEDS; do for kind in real gan ddpm; do
    echo "$kind-p$pct-s$seed $(cat "$work/scores/$kind-p$pct-s$seed")"
  done; done; done
  echo '```'
} > "$RESULTS/augment_pneumonia.md.tmp"
mv "$RESULTS/augment_pneumonia.md.tmp" "$RESULTS/augment_pneumonia.md"
cat "$RESULTS/augment_pneumonia.md"
echo "augment_pneumonia: all stages done in $(( ($(date +%s) - started) / 60 )) min"
