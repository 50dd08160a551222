#!/bin/sh
# test_medgen_cli.sh MEDGEN SCRATCH_DIR: the medgen command line end to end: help and version exit 0, usage errors
# exit 2 with a one-line reason (train and sample: test_medgen_train.sh; eval: Testing/Eval), and a 3-step `medgen demo` writes its
# picture (marked synthetic), its synthetic stack (a marked 64x64x24 NIfTI in the MRI's pixel type, unsigned char),
# loss log and a checkpoint that `medgen info` can read; Ctrl-C (SIGINT) during
# training stops the demo with a non-zero exit, one line on stderr and no output files. Exit 77 (skip) without
# Debian's mricron-data.
medgen="$1"
dir="$2"
out="$dir/demo-smoke"
# shellcheck source-path=SCRIPTDIR source=cli_test_lib.sh
. "$(dirname "$0")/cli_test_lib.sh"
mkdir -p "$dir"
check "medgen --help" 0 "$medgen" --help
check "medgen --version" 0 "$medgen" --version
check "medgen demo --help" 0 "$medgen" demo --help
check "unknown command" 2 "$medgen" frobnicate
check "unknown option" 2 "$medgen" --frobnicate
check "unknown demo option" 2 "$medgen" demo --frobnicate
check "bad demo value" 2 "$medgen" demo --steps -3
check "medgen eval --help" 0 "$medgen" eval --help
check "eval without its options" 2 "$medgen" eval
"$medgen" frobnicate 2>"$dir/stderr.log" >/dev/null
[ "$(wc -l <"$dir/stderr.log")" -eq 1 ] || { echo "FAIL: an unknown command must give one line on stderr"; failed=1; }

colin=/usr/share/mricron/templates/ch2.nii.gz
if [ ! -f "$colin" ]; then
  echo "SKIPPED: $colin is absent (apt-get install mricron-data); the demo was not run"
  exit 77
fi
rm -rf "$out"
if ! "$medgen" demo --steps 3 --threads 2 --out "$out"; then
  echo "FAIL: medgen demo --steps 3"; exit 1
fi
for f in demo.png demo-synthetic.nii.gz demo-loss.csv demo.safetensors; do
  [ -s "$out/$f" ] || { echo "FAIL: $out/$f missing or empty"; failed=1; }
done
grep -q "MedGen synthetic image - not for diagnosis" "$out/demo.png" || { echo "FAIL: demo.png is not marked synthetic"; failed=1; }
gzip -dc "$out/demo-synthetic.nii.gz" | head -c 348 >"$dir/stack-header"
# NIfTI-1 header: dim[0..3] at byte 40, datatype at 70 (2: unsigned char), descrip at 148
[ "$(od -An -t d2 -j 40 -N 8 "$dir/stack-header" | tr -s ' ')" = " 3 64 64 24" ] &&
  [ "$(od -An -t d2 -j 70 -N 2 "$dir/stack-header" | tr -d ' ')" = "2" ] ||
  { echo "FAIL: demo-synthetic.nii.gz should be 24 slices of 64x64 unsigned char"; failed=1; }
dd if="$dir/stack-header" bs=1 skip=148 count=80 2>/dev/null | grep -aq "^MedGen SYNTHETIC fnv1a64:[0-9a-f]\{16\} .*seed 1" ||
  { echo "FAIL: demo-synthetic.nii.gz's descrip lacks the synthetic mark, the model's fingerprint or the seed"; failed=1; }
[ "$(wc -l <"$out/demo-loss.csv")" -eq 4 ] || { echo "FAIL: demo-loss.csv should hold a header and 3 steps"; failed=1; }
ls -A "$out" | grep -q tmp && { echo "FAIL: temporary files left in $out"; failed=1; }
"$medgen" info "$out/demo.safetensors" >"$dir/info.log" 2>&1 || { echo "FAIL: medgen info cannot read the demo checkpoint"; cat "$dir/info.log"; failed=1; }
grep -q "GAN for 64x64" "$dir/info.log" && grep -q "pixel_type = unsigned_char" "$dir/info.log" ||
  { echo "FAIL: the demo checkpoint should be a 64x64 GAN noting the source pixel type:"; cat "$dir/info.log"; failed=1; }
# Ctrl-C once training has begun (the first progress line): exit 1, one line on stderr, the new folder removed.
# (--device cpu: under auto a CUDA build without a GPU adds its one-line note.)
cancel="$dir/demo-cancel"
rm -rf "$cancel"
: >"$dir/cancel.log" # emptied first: the log of an earlier run would show a step before this one has begun
"$medgen" demo --steps 100000 --threads 2 --device cpu --out "$cancel" >"$dir/cancel.log" 2>"$dir/cancel.err" &
interrupt $! "$dir/cancel.log"
[ "$got" -eq 1 ] || { echo "FAIL: an interrupted demo must exit 1, got $got"; failed=1; }
[ "$(wc -l <"$dir/cancel.err")" -eq 1 ] && grep -q "interrupted" "$dir/cancel.err" ||
  { echo "FAIL: an interrupted demo must say so in one line on stderr:"; cat "$dir/cancel.err"; failed=1; }
[ -e "$cancel" ] && { echo "FAIL: an interrupted demo left $cancel:"; ls -la "$cancel"; failed=1; }
[ $failed -eq 0 ] && echo "medgen CLI: all checks passed"
exit $failed
