# The metrics library (Logic/Eval): known answers, bad arguments, thread invariance, and the numpy/scipy reference
# (Testing/Python/eval_reference.py, run under ${MedGen_PYTHON}).
function(medgen_add_eval_test name)
  add_executable(${name} ${name}.c)
  target_link_libraries(${name} PRIVATE medgen_eval medgen_test_util OpenMP::OpenMP_C m)
  add_test(NAME ${name} COMMAND ${name} ${ARGN})
  set_tests_properties(${name} PROPERTIES LABELS "eval" TIMEOUT 120 ENVIRONMENT OMP_WAIT_POLICY=PASSIVE)
endfunction()

medgen_add_eval_test(test_eval_known)
medgen_add_eval_test(test_eval_arguments)
medgen_add_eval_test(test_eval_threads)
medgen_add_eval_test(test_eval_reference ${MedGen_PYTHON} ${PROJECT_SOURCE_DIR}/Testing/Python/eval_reference.py
                     ${CMAKE_CURRENT_BINARY_DIR}/eval_reference)
