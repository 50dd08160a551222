#!/bin/sh
# test_medgen_device.sh MEDGEN SCRATCH_DIR: --device and --tf32 on every command that computes. `medgen info` lists the
# devices; an unknown --device is a usage error (exit 2) naming --device and its values; --device cuda without a
# usable GPU exits 1 with the engine's reason and writes nothing; --device auto trains and samples, records where
# (run.device), and prints auto's note (a CUDA build on a machine without a GPU) exactly once, while --device cpu
# prints none. Needs only /usr/bin/python3's standard library (for a tiny PNG folder).
medgen="$1"
dir="$2"
# shellcheck source-path=SCRIPTDIR source=cli_test_lib.sh
. "$(dirname "$0")/cli_test_lib.sh"
rm -rf "$dir" && mkdir -p "$dir/data/disk" || exit 1
make_pngs "$dir/data" <<'PY' || exit 1
for i in range(4):
    disc = [[230 if (x - 8) ** 2 + (y - 8) ** 2 < (3 + i) ** 2 else 20 for x in range(16)] for y in range(16)]
    png(f"{sys.argv[1]}/disk/{i}.png", disc)
PY
tiny="--steps 2 --batch 2 --base-channels 8 --channel-mult 1,2 --attention 0,1 --head-channels 8 --groups 4"
tiny="$tiny --temb-channels 16"
# shellcheck disable=SC2317 # called through check
train() { # train RUN_FOLDER OPTIONS...: a tiny diffusion model on the folder above
  run="$1"
  shift
  # shellcheck disable=SC2086 # tiny is split on purpose
  "$medgen" train --model ddpm --data "$dir/data" --out "$run" $tiny "$@"
}

# What this build and machine can use, as medgen info says (the engine's own resolution).
check "medgen info without a checkpoint" 0 "$medgen" info
said "^  cpu   usable" "medgen info should list the CPU as usable"
said "^  cuda  " "medgen info should say whether cuda can be used"
said "^  auto  \(cpu\|cuda\) (the default)" "medgen info should say what auto picks"
cp "$dir/check.log" "$dir/info.log"
auto_device=$(sed -n 's/^  auto  \([a-z]*\) (the default).*/\1/p' "$dir/info.log")
auto_note=$(sed -n 's/^  auto  [a-z]* (the default): //p' "$dir/info.log") # "" unless a CUDA build without a GPU
cuda_reason=$(sed -n 's/^  cuda  not usable: //p' "$dir/info.log")         # "" when a GPU is usable

# An unknown device: a usage error on one line naming the option and its values, before any work.
for cmd in "train --model ddpm --data $dir/data --out $dir/bogus" "sample --checkpoint $dir/none --out $dir/bogus.png" \
  "eval --real $dir/data --synthetic $dir/data --out $dir/bogus.json" "demo --data $dir/data --out $dir/bogus"; do
  name=${cmd%% *}
  # shellcheck disable=SC2086 # cmd is split on purpose
  check "$name --device bogus" 2 "$medgen" $cmd --device bogus
  said "medgen $name: unknown --device 'bogus': use auto, cpu or cuda" "$name: name an unknown --device and the values"
  [ "$(wc -l <"$dir/check.log")" -eq 1 ] || fail "$name: an unknown --device takes one line"
done
[ -e "$dir/bogus" ] || [ -e "$dir/bogus.png" ] || [ -e "$dir/bogus.json" ] && fail "an unknown --device wrote something"

# The CUDA GPU asked for where none can be used: exit 1, the engine's reason, nothing written.
if [ -n "$cuda_reason" ]; then
  check "train --device cuda without a GPU" 1 train "$dir/cuda-run" --device cuda
  said "^medgen train: device cuda cannot be used: $cuda_reason" "train --device cuda must give the engine's reason"
  [ -e "$dir/cuda-run" ] && fail "train --device cuda without a GPU left $dir/cuda-run"
  check "demo --device cuda without a GPU" 1 "$medgen" demo --data "$dir/data/disk/0.png" --out "$dir/cuda-demo" \
    --device cuda
  said "^medgen demo: device cuda cannot be used: $cuda_reason" "demo --device cuda must give the engine's reason"
  [ -e "$dir/cuda-demo" ] && fail "demo --device cuda without a GPU left $dir/cuda-demo"
  check "eval --device cuda without a GPU" 1 "$medgen" eval --real "$dir/data" --synthetic "$dir/data" \
    --out "$dir/cuda.json" --device cuda
  said "^medgen eval: device cuda cannot be used: $cuda_reason" "eval --device cuda must give the engine's reason"
  [ -e "$dir/cuda.json" ] && fail "eval --device cuda without a GPU wrote $dir/cuda.json"
else
  echo "a usable GPU: the checks of --device cuda without one are skipped"
fi

# auto (the default) and cpu train and sample; the run notes where it trained; auto's note comes once, cpu's never.
check "train --device auto --tf32" 0 train "$dir/auto" --device auto --tf32
notes=$(grep -c "using the CPU" "$dir/check.log")
if [ -n "$auto_note" ]; then
  [ "$notes" -eq 1 ] || fail "auto on a CUDA build without a GPU must say so once, said $notes times"
  said "^medgen train: $auto_note" "auto's note must be the engine's"
else
  [ "$notes" -eq 0 ] || fail "auto with nothing to say (a CPU build, or a usable GPU) printed a note"
fi
said "steps 1 to 2, batch 2, lr [0-9.e-]*, $auto_device" "train must say where it computes ($auto_device)"
check "info on the auto run" 0 "$medgen" info "$dir/auto/checkpoint.safetensors"
said "^notes: .*device = $auto_device" "the run must note the device auto resolved to ($auto_device)"
tf32_noted=0
[ "$auto_device" = cuda ] && tf32_noted=1
said "^notes: .*tf32 = $tf32_noted" "the run must note whether TF32 was used ($tf32_noted)"
check "sample (default device)" 0 "$medgen" sample --checkpoint "$dir/auto/checkpoint.safetensors" \
  --out "$dir/auto.png" --n 1 --steps 2
[ "$(grep -c "using the CPU" "$dir/check.log")" -eq "$notes" ] || fail "sample's default (auto) must note as train's"
if [ -n "$cuda_reason" ]; then
  check "sample --device cuda without a GPU" 1 "$medgen" sample --checkpoint "$dir/auto/checkpoint.safetensors" \
    --out "$dir/cuda.png" --n 1 --steps 2 --device cuda
  said "^medgen sample: device cuda cannot be used: $cuda_reason" "sample --device cuda must give the engine's reason"
  [ -e "$dir/cuda.png" ] && fail "sample --device cuda without a GPU wrote $dir/cuda.png"
fi
check "train --device cpu" 0 train "$dir/cpu" --device cpu --threads 1
grep -q "using the CPU" "$dir/check.log" && fail "--device cpu must not print auto's note"
said "steps 1 to 2, batch 2, lr [0-9.e-]*, cpu, 1 thread;" "train --device cpu must say it computes on the CPU"
check "resume on another device" 0 "$medgen" train --resume "$dir/cpu" --steps 3 --device auto
check "info on the resumed run" 0 "$medgen" info "$dir/cpu/checkpoint.safetensors"
said "^notes: .*device = $auto_device" "a resumed run must note the device of its last session ($auto_device)"
[ $failed -eq 0 ] && echo "medgen --device: all checks passed"
exit $failed
