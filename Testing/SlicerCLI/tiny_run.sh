# tiny_run.sh: the tiny MedGenTrain run the Slicer CLI tests share (sourced): a diffusion model with 8 base channels
# on 16x16 slices, batch 2, so that a run takes seconds on 2 cores; checkpoints every 5 steps.
# shellcheck shell=sh disable=SC2034 # tiny_iterations is for the tests
tiny_iterations=100
tiny_exec= # "exec": the program replaces the shell running tiny_train (for a background job: $! is the program)
tiny_train() { # tiny_train MEDGENTRAIN VOLUME MODEL [more arguments]
  program="$1" volume="$2" model="$3"
  shift 3
  $tiny_exec "$program" --inputVolume "$volume" --outputModel "$model" --modelType ddpm --imageSize 16 \
    --baseChannels 8 --batchSize 2 --iterations $tiny_iterations --checkpointInterval 5 --seed 3 --threads 2 "$@"
}
