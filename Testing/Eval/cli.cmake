# `medgen eval` end to end (eval_cli_test.py, Debian's python3): generated 32x32 images of two classes and a small
# classifier trained on them as the feature extractor (the eval_cli_data fixture), then one test per behaviour.
set(MEDGEN_EVAL_CLI_SCRATCH ${CMAKE_CURRENT_BINARY_DIR}/eval_cli)
set(MEDGEN_EVAL_CLI_SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/eval_cli_test.py)
add_test(NAME test_medgen_eval_setup
         COMMAND ${MedGen_PYTHON} ${MEDGEN_EVAL_CLI_SCRIPT} setup $<TARGET_FILE:medgen> ${MEDGEN_EVAL_CLI_SCRATCH})
set_tests_properties(test_medgen_eval_setup PROPERTIES FIXTURES_SETUP eval_cli_data LABELS "tool;eval" TIMEOUT 120
                     ENVIRONMENT OMP_WAIT_POLICY=PASSIVE)
# identical: real vs a copy; shifted: +0.3 of the range; memorized: copies of the training images; collapsed: one
# image repeated; classes: class consistency with a trained and a given classifier; schema: the JSON against
# Documentation/medgen-eval.schema.json (needs python3-jsonschema, else skipped); html: the report's images and
# numbers; bad_inputs: exit 1 naming the file, nothing written; stack: a stack from medgen sample reads back as its
# PNGs; mednist: real MedNIST (skipped without ../shared/data); augment: `medgen bench augment`'s scores.
foreach(case identical shifted memorized collapsed classes schema html bad_inputs stack mednist augment)
  set(extra "")
  if(case STREQUAL "schema")
    set(extra ${PROJECT_SOURCE_DIR}/Documentation/medgen-eval.schema.json)
  elseif(case STREQUAL "mednist")
    set(extra ${MedGen_SHARED_DATA})
  endif()
  add_test(NAME test_medgen_eval_${case}
           COMMAND ${MedGen_PYTHON} ${MEDGEN_EVAL_CLI_SCRIPT} ${case} $<TARGET_FILE:medgen> ${MEDGEN_EVAL_CLI_SCRATCH}
                   ${extra})
  set_tests_properties(test_medgen_eval_${case} PROPERTIES FIXTURES_REQUIRED eval_cli_data LABELS "tool;eval"
                       SKIP_RETURN_CODE 77 TIMEOUT 120 ENVIRONMENT OMP_WAIT_POLICY=PASSIVE)
endforeach()
