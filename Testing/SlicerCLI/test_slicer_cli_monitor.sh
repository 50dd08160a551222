#!/bin/sh
# test_slicer_cli_monitor.sh MEDGENTRAIN SCRATCH_DIR: MedGenTrain's monitor folder (--monitorDirectory), which a GUI
# polls while training runs out of process. After a tiny run (and a tiny GAN run): progress.json says done with the
# last step and loss and a preview of the last step; loss.csv has one line per step 1..total with finite losses;
# preview.nrrd holds 16 marked synthetic images of the training size. With --previewSeconds 0, a run killed once its
# first preview is on disk has drawn it from a checkpoint before the end; run again, it resumes and loss.csv still has
# each step once (and the model is the uninterrupted run's: previews do not disturb training); --restart starts
# loss.csv over. A bad input volume leaves state "failed" with a message naming the file.
train="$1"
dir="$2"
# shellcheck source-path=SCRIPTDIR source=../Engine/cli_test_lib.sh
. "$(dirname "$0")/../Engine/cli_test_lib.sh"
# shellcheck source-path=SCRIPTDIR source=tiny_run.sh
. "$(dirname "$0")/tiny_run.sh"
rm -rf "$dir" && mkdir -p "$dir" || exit 1
/usr/bin/python3 "$(dirname "$0")/make_volume.py" "$dir/volume.nrrd" || exit 1

finished() { # finished MONITOR_DIR TOTAL SIZE MODEL_TYPE: the folder of a run that ended after TOTAL steps
  /usr/bin/python3 - "$@" <<'PY' || failed=1
import json, math, sys
folder, total, size, model_type = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
bad = []
p = json.load(open(folder + "/progress.json"))
if p["state"] != "done" or p["step"] != total or p["total"] != total or p["preview_step"] != total:
    bad.append("progress.json should say done, step = total = preview_step = %d" % total)
if not isinstance(p["loss"], float) or not math.isfinite(p["loss"]) or p["eta_seconds"] != 0 or p["slices"] < 1:
    bad.append("progress.json should hold the last loss, eta 0 and the slice count")
if not p["model"].startswith("/") or not p["elapsed_seconds"] > 0 or "trained" not in p["message"]:
    bad.append("progress.json should hold the model's absolute path, the time taken and the last comment")
lines = open(folder + "/loss.csv").read().split("\n")
steps = [int(line.split(",")[0]) for line in lines[1:-1]]
losses = [float(line.split(",")[1]) for line in lines[1:-1]]
if lines[0] != "step,loss" or lines[-1] != "" or steps != list(range(1, total + 1)):
    bad.append("loss.csv should be the header and steps 1..%d, each once, in order" % total)
if not all(map(math.isfinite, losses)):
    bad.append("loss.csv holds a loss that is not finite")
data = open(folder + "/preview.nrrd", "rb").read()
fields = dict(line.replace(":=", ": ", 1).split(": ", 1) for line in
              data[:data.index(b"\n\n")].decode("latin-1").split("\n")[1:] if not line.startswith("#"))
want = {"type": "float", "sizes": "%s %s 16" % (size, size), "MedGen": "synthetic", "MedGen_Seed": "1",
        "MedGen_ModelType": model_type, "MedGen_TrainingStep": str(total)}
wrong = {key: fields.get(key) for key in want if fields.get(key) != want[key]}
if wrong:
    bad.append("preview.nrrd: %r, expected %r" % (wrong, {key: want[key] for key in wrong}))
for message in bad:
    print("FAIL: %s: %s" % (folder, message))
if bad:
    print(json.dumps(p))
sys.exit(1 if bad else 0)
PY
}

check "tiny run with a monitor folder" 0 tiny_train "$train" "$dir/volume.nrrd" "$dir/model.safetensors" \
  --monitorDirectory "$dir/monitor"
finished "$dir/monitor" $tiny_iterations 16 ddpm

check "tiny GAN run with a monitor folder" 0 "$train" --inputVolume "$dir/volume.nrrd" \
  --outputModel "$dir/gan.safetensors" --modelType gan --imageSize 32 --width 8 --batchSize 2 --iterations 4 --threads 2 --monitorDirectory "$dir/gan"
finished "$dir/gan" 4 32 gan

# previewSeconds 0: a preview at every checkpoint. The run is killed as soon as one is on disk.
model="$dir/killed.safetensors"
monitor="$dir/killed"
(
  tiny_exec="exec"
  tiny_train "$train" "$dir/volume.nrrd" "$model" --monitorDirectory "$monitor" --previewSeconds 0
) >"$dir/killed.log" 2>&1 &
pid=$!
tries=0
until [ -s "$monitor/preview.nrrd" ] || [ $tries -ge 600 ]; do sleep 0.05; tries=$((tries + 1)); done
kill -9 $pid
wait $pid
got=$?
[ $got -eq 137 ] || fail "the run should have died of the kill -9 (status 137), not $got"
grep -q "^<filter-end>" "$dir/killed.log" && fail "the run ended before the kill: raise tiny_iterations"
previewed=$(LC_ALL=C sed -n 's/^MedGen_TrainingStep:=//p; /^$/q' "$monitor/preview.nrrd")
if [ "${previewed:-0}" -le 0 ] || [ $((previewed % 5)) -ne 0 ] || [ "$previewed" -ge $tiny_iterations ]; then
  fail "with --previewSeconds 0 a preview should come from a checkpoint (every 5 steps) before the end, not step" \
    "'$previewed'"
fi
grep -q '"state": "running"' "$monitor/progress.json" || fail "a killed run's progress.json should say running"
cp "$monitor/loss.csv" "$dir/killed-loss.csv"
# What a kill may also leave: lines after the checkpoint's step, the last one cut short. The rerun drops them.
last=$(tail -n 1 "$monitor/loss.csv" | cut -d, -f1)
printf '%s,0.5\n%s,0.' $((last + 1)) $((last + 2)) >>"$monitor/loss.csv"
check "the killed run again" 0 tiny_train "$train" "$dir/volume.nrrd" "$model" --monitorDirectory "$monitor"
said "^<filter-comment>resuming from step [1-9]" "the rerun must resume"
resumed=$(sed -n 's/^<filter-comment>resuming from step \([0-9]*\) .*/\1/p' "$dir/check.log")
awk -F, -v n="$resumed" 'NR > 1 && $1 == NR - 1 { k = $1 } END { exit !(k >= n) }' "$dir/killed-loss.csv" ||
  fail "the killed run's loss.csv should hold every step up to its checkpoint's ($resumed)"
finished "$monitor" $tiny_iterations 16 ddpm
cmp "$model" "$dir/model.safetensors" || fail "the killed and resumed run's model differs from the uninterrupted one's"

tiny_iterations=20 # fewer steps: had loss.csv not started over, it would hold 100
check "restart" 0 tiny_train "$train" "$dir/volume.nrrd" "$model" --monitorDirectory "$monitor" --restart
finished "$monitor" 20 16 ddpm

# A bad input volume: the failure and its message in progress.json too.
echo "not a volume" >"$dir/bad.nrrd"
check "a bad input volume" 1 tiny_train "$train" "$dir/bad.nrrd" "$dir/bad.safetensors" --monitorDirectory "$dir/bad"
said "bad.nrrd" "the error should name the bad volume"
/usr/bin/python3 -c 'import json, sys
p = json.load(open(sys.argv[1]))
sys.exit(0 if p["state"] == "failed" and "bad.nrrd" in p["message"] else 1)' "$dir/bad/progress.json" ||
  { fail "progress.json should say failed with a message naming bad.nrrd:"; cat "$dir/bad/progress.json"; }
[ -e "$dir/bad.safetensors" ] && fail "a failed run wrote a model"
exit $failed
