#!/bin/sh
# gan_mednist.sh: the GAN quality benchmark, two runs on MedNIST with `medgen train --model gan`:
#   one:  an unconditional GAN on ONE_COUNT images of one class (small data: what augmentation is for);
#   cond: a class-conditional GAN on all six classes.
# Each is sampled with `medgen sample` and judged by medgen_bench_quality against held-out real images: class
# consistency (a CNN trained on real MedNIST), diversity (mean pairwise distance, samples over real: about 1 = no
# mode collapse) and memorization (distance to the nearest training image, samples against held-out images: about
# 1 = no copying). In each class every tenth image (sorted names) is held out, as the judge holds it out; the GANs
# train on the rest only.
#
#   sh Testing/Benchmarks/gan_mednist.sh BUILD_DIR WORK_DIR
#
# BUILD_DIR holds a Release build (medgen, medgen_bench_quality); WORK_DIR receives the extracted data, the training
# folders (hard links), the runs and the samples. An interrupted run continues where it stopped when the script is
# run again. Writes RESULTS/gan_mednist_one.md and gan_mednist_cond.md with their sample grids. Settings come from
# the environment (defaults in brackets): RUNS ["one cond"], SIZE [32], WIDTH [64], LATENT [128], BATCH [32],
# STEPS_ONE [7000], STEPS_COND [7000], ONE_CLASS [HeadCT], ONE_COUNT [500], N [600] samples, THREADS [all cores],
# JUDGE_STEPS [400] (the judge's classifier), RESULTS [Testing/Benchmarks/results], GAN_ARGS [""] (more
# `medgen train` options, e.g. "--lr-d 4e-4").
set -eu
build=${1:?usage: gan_mednist.sh BUILD_DIR WORK_DIR}
work=${2:?usage: gan_mednist.sh BUILD_DIR WORK_DIR}
here=$(cd "$(dirname "$0")" && pwd)
data_tar=${MEDGEN_SHARED_DATA:-$here/../../../shared/data}/MedNIST-64.tar.gz
RUNS=${RUNS:-one cond} SIZE=${SIZE:-32} WIDTH=${WIDTH:-64} LATENT=${LATENT:-128} BATCH=${BATCH:-32}
STEPS_ONE=${STEPS_ONE:-7000} STEPS_COND=${STEPS_COND:-7000} ONE_CLASS=${ONE_CLASS:-HeadCT} ONE_COUNT=${ONE_COUNT:-500}
N=${N:-600} JUDGE_STEPS=${JUDGE_STEPS:-400} RESULTS=${RESULTS:-$here/results} GAN_ARGS=${GAN_ARGS:-}
threads=${THREADS:+--threads $THREADS}
medgen=$build/Tools/medgen/medgen
judge=$build/Testing/Benchmarks/medgen_bench_quality
[ -f "$data_tar" ] || { echo "MedNIST not found at $data_tar" >&2; exit 1; }
[ -x "$medgen" ] && [ -x "$judge" ] || { echo "$build lacks medgen or medgen_bench_quality" >&2; exit 1; }
mkdir -p "$work" "$RESULTS"
work=$(cd "$work" && pwd)
[ -d "$work/MedNIST" ] || tar -xzf "$data_tar" -C "$work"

# the training folders: split/train/<class>/ (nine tenths of each class) and split/one/ (ONE_COUNT of one class)
split=$work/split
if [ ! -f "$split/done" ]; then
  rm -rf "$split"
  mkdir -p "$split/one"
  for class_dir in "$work"/MedNIST/*/; do
    class=$(basename "$class_dir")
    mkdir -p "$split/train/$class"
    LC_ALL=C ls "$class_dir" | awk 'NR % 10 != 1' | sed "s|^|$class_dir|" | xargs ln -t "$split/train/$class"
  done
  LC_ALL=C ls "$split/train/$ONE_CLASS" | head -n "$ONE_COUNT" | sed "s|^|$split/train/$ONE_CLASS/|" |
    xargs ln -t "$split/one"
  touch "$split/done"
fi

# train NAME DATA STEPS [options]: a new run, or the continuation of an interrupted one
train() {
  name=$1 data=$2 steps=$3
  shift 3
  run=$work/$name
  if [ -f "$run/checkpoint.safetensors" ]; then
    step=$("$medgen" info "$run/checkpoint.safetensors" | sed -n 's/^ *step: *//p' | head -1)
    # shellcheck disable=SC2086
    [ "$step" = "$steps" ] || "$medgen" train --resume "$run" --steps "$steps" $threads
  else
    # shellcheck disable=SC2086
    "$medgen" train --model gan --data "$data" --size "$SIZE" --out "$run" --steps "$steps" --batch "$BATCH" \
      --width "$WIDTH" --latent "$LATENT" --checkpoint-every 250 "$@" $threads $GAN_ARGS
  fi
}

# sample_and_judge NAME DATA GRID_N WALK_ARGS JUDGE_ARGS: N samples (seed 7) for the judge, which compares them with
# the held-out images (JUDGE_ARGS: more of its options); a grid of GRID_N samples (seed 1); an interpolation between
# seeds 1 and 2 (WALK_ARGS: more `medgen sample` options, e.g. its class). Class names hold no spaces.
sample_and_judge() {
  name=$1 data=$2 grid_n=$3 walk_args=$4 judge_args=$5
  ck=$work/$name/checkpoint.safetensors
  # shellcheck disable=SC2086
  "$medgen" sample --checkpoint "$ck" --n "$N" --seed 7 --batch 100 --out "$work/$name-samples.nii.gz" $threads
  # shellcheck disable=SC2086
  "$medgen" sample --checkpoint "$ck" --n "$grid_n" --seed 1 --out "$work/$name-grid.nii.gz" \
    --grid "$RESULTS/gan_mednist_${name}_grid.png" $threads
  # shellcheck disable=SC2086
  "$medgen" sample --checkpoint "$ck" --interpolate 1 2 --frames 10 $walk_args --out "$work/$name-walk.nii.gz" \
    --grid "$RESULTS/gan_mednist_${name}_walk.png" $threads
  # shellcheck disable=SC2086
  "$judge" --real "$work/MedNIST" --train "$data" $judge_args --samples "$work/$name-samples.nii.gz" --size "$SIZE" \
    --steps "$JUDGE_STEPS" $threads >"$work/$name-judge.txt"
  cat "$work/$name-judge.txt"
}

# report NAME TITLE: the results page from the run's checkpoint summary, training time and the judge's output
report() {
  name=$1 title=$2
  run=$work/$name
  seconds=$(for log in "$run"/train-log*.csv; do tail -n 1 "$log" | awk -F, '{print $NF}'; done |
            awk '{s += $1} END {printf "%.0f", s}')
  page=$RESULTS/gan_mednist_$name.md
  {
    echo "# GAN quality benchmark: $title"
    echo
    echo "Written by \`Testing/Benchmarks/gan_mednist.sh\` on $(date -u +%Y-%m-%d) ($(nproc) cores; commit" \
         "$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)). Settings: SIZE=$SIZE WIDTH=$WIDTH" \
         "LATENT=$LATENT BATCH=$BATCH STEPS_ONE=$STEPS_ONE STEPS_COND=$STEPS_COND ONE_CLASS=$ONE_CLASS" \
         "ONE_COUNT=$ONE_COUNT N=$N GAN_ARGS='$GAN_ARGS'."
    echo
    echo "Training time: $((seconds / 60)) min $((seconds % 60)) s (the sum over the run's logs, resumed parts" \
         "included)."
    echo
    echo '```'
    "$medgen" info "$run/checkpoint.safetensors" | sed -n '/^model:/,/^metadata:/p' | sed '$d'
    echo '```'
    echo
    echo "## Judge (\`medgen_bench_quality\`)"
    echo
    echo '```'
    cat "$work/$name-judge.txt"
    echo '```'
    echo
    echo "![samples](gan_mednist_${name}_grid.png)"
    echo
    echo "\`gan_mednist_${name}_grid.png\`: samples (seed 1, EMA weights)$3."
    echo "\`gan_mednist_${name}_walk.png\`: an interpolation between the latent vectors of seeds 1 and 2."
  } >"$page.tmp"
  mv "$page.tmp" "$page"
  echo "gan_mednist.sh: wrote $page"
}

for which in $RUNS; do
  case $which in
  one)
    train one "$split/one" "$STEPS_ONE"
    sample_and_judge one "$split/one" 64 "" "--class $ONE_CLASS"
    report one "$ONE_COUNT $ONE_CLASS images, unconditional" ""
    ;;
  cond)
    train cond "$split/train" "$STEPS_COND"
    sample_and_judge cond "$split/train" 48 "--class $(LC_ALL=C ls "$split/train" | head -n 1)" ""
    report cond "class-conditional MedNIST (six classes)" ", one class per column in alphabetical order"
    ;;
  *)
    echo "gan_mednist.sh: unknown run '$which' in RUNS (one, cond)" >&2
    exit 2
    ;;
  esac
done
