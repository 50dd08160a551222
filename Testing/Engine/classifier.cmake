# The image classifier (medgen.h): learns a synthetic 3-class set, fails on shuffled labels, is thread-count
# independent, saves and loads bit for bit, gives the features its final layer reads, keeps its notes, refuses bad
# inputs and other models' checkpoints. ARGS: scratch folder, where it also writes a saved classifier and its
# features and logits on a few images: classifier_parity then runs the same network in PyTorch on those weights
# (classifier_reference.py) and compares. The parity test must run in CI: without python3-torch it fails, never skips.
set(MEDGEN_CLASSIFIER_SCRATCH ${CMAKE_CURRENT_BINARY_DIR}/classifier_scratch)
medgen_add_test(test_classifier test_classifier.c LABELS classifier ARGS ${MEDGEN_CLASSIFIER_SCRATCH})
set_tests_properties(test_classifier PROPERTIES TIMEOUT 120 FIXTURES_SETUP classifier_parity_files)
if(MedGen_PYTHON)
  add_test(NAME classifier_parity
           COMMAND ${MedGen_PYTHON} ${PROJECT_SOURCE_DIR}/Testing/Python/classifier_reference.py check
                   ${MEDGEN_CLASSIFIER_SCRATCH}/parity_model.safetensors
                   ${MEDGEN_CLASSIFIER_SCRATCH}/parity_outputs.safetensors)
else()
  add_test(NAME classifier_parity
           COMMAND sh -c "echo 'no python3 in /usr/bin: run the README test command, which installs python3-torch' >&2
                          exit 1")
endif()
set_tests_properties(classifier_parity PROPERTIES FIXTURES_REQUIRED classifier_parity_files
                     LABELS "engine;parity;classifier" TIMEOUT 120)

# medgen train --model classifier (with --val and --note) and medgen info end to end on a tiny generated image folder.
add_test(NAME test_medgen_classifier COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_medgen_classifier.sh
                                             $<TARGET_FILE:medgen> ${CMAKE_CURRENT_BINARY_DIR}/medgen_classifier)
set_tests_properties(test_medgen_classifier PROPERTIES LABELS "tool;classifier" TIMEOUT 120
                     ENVIRONMENT OMP_WAIT_POLICY=PASSIVE)
