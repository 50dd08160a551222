# Image I/O (Logic/IO) and the end-to-end check that a small conv net learns on real MRI slices.
medgen_add_test(test_io test_io.c LABELS io)
target_link_libraries(test_io PRIVATE medgen_io)

# Needs /usr/share/mricron/templates/ch2.nii.gz (Debian's mricron-data); skips with exit code 77 where absent.
medgen_add_test(test_overfit test_overfit.c LABELS training)
target_link_libraries(test_overfit PRIVATE medgen_io)
set_tests_properties(test_overfit PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)

# The medgen command line: usage errors, and a 3-step demo run whose outputs are checked (skips without mricron-data).
add_test(NAME test_medgen_cli COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_medgen_cli.sh $<TARGET_FILE:medgen>
                                      ${CMAKE_CURRENT_BINARY_DIR}/medgen_cli)
set_tests_properties(test_medgen_cli PROPERTIES LABELS "tool" SKIP_RETURN_CODE 77 TIMEOUT 120)
