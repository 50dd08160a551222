#!/bin/sh
# test_slicer_cli_resume.sh MEDGENTRAIN SCRATCH_DIR TRAIN_DIR: Slicer cancels a module with a kill -9. The tiny run,
# killed once its first checkpoint is on disk and then run again with the same arguments, says "resuming from step
# N" (N > 0) and ends with a checkpoint byte-identical to the uninterrupted run of test_slicer_cli_train (TRAIN_DIR).
train="$1"
dir="$2"
reference="$3/model.safetensors"
# shellcheck source-path=SCRIPTDIR source=../Engine/cli_test_lib.sh
. "$(dirname "$0")/../Engine/cli_test_lib.sh"
# shellcheck source-path=SCRIPTDIR source=tiny_run.sh
. "$(dirname "$0")/tiny_run.sh"
rm -rf "$dir" && mkdir -p "$dir" || exit 1
[ -s "$reference" ] || { echo "FAIL: no $reference: test_slicer_cli_train makes it"; exit 1; }
model="$dir/model.safetensors"
(
  tiny_exec="exec"
  tiny_train "$train" "$3/volume.nrrd" "$model"
) >"$dir/killed.log" 2>&1 &
pid=$!
tries=0
until [ -s "$model" ] || [ $tries -ge 600 ]; do sleep 0.05; tries=$((tries + 1)); done
kill -9 $pid
wait $pid
got=$?
[ -s "$model" ] || fail "the run wrote no checkpoint within 30 s"
[ $got -eq 137 ] || fail "the run should have died of the kill -9 (status 137), not $got"
grep -q "^<filter-end>" "$dir/killed.log" && fail "the run ended before the kill: raise tiny_iterations"
check "the same run again" 0 tiny_train "$train" "$3/volume.nrrd" "$model"
cp "$dir/check.log" "$dir/resumed.log"
said "^<filter-comment>resuming from step [1-9][0-9]* " "the rerun must say it resumes from a step above 0"
said "^<filter-end>" "the rerun must finish"
# It trained only the steps after N: after the opening 0, its progress starts above N / iterations.
awk -F'[<>]' -v total=$tiny_iterations '/^<filter-comment>resuming from step/ { split($3, w, " "); n = w[4] }
  /^<filter-progress>/ && $3 + 0 > 0 && !first { first = $3 + 0 }
  END { exit !(n > 0 && first > n / total) }' "$dir/resumed.log" ||
  fail "the rerun's progress should start after the step it resumed from"
cmp "$model" "$reference" || fail "the resumed run's checkpoint differs from the uninterrupted run's"

# restart: starts over from step 0 and ends as the uninterrupted run did
check "restart" 0 tiny_train "$train" "$3/volume.nrrd" "$model" --restart
grep -q "resuming" "$dir/check.log" && fail "restart must not resume"
cmp "$model" "$reference" || fail "a restarted run's checkpoint differs from the uninterrupted run's"
exit $failed
