# The image classifier (medgen.h): learns a synthetic 3-class set, fails on shuffled labels, is thread-count
# independent, saves and loads bit for bit, refuses bad inputs and other models' checkpoints. ARGS: scratch folder.
medgen_add_test(test_classifier test_classifier.c LABELS classifier ARGS ${CMAKE_CURRENT_BINARY_DIR}/classifier_scratch)
set_tests_properties(test_classifier PROPERTIES TIMEOUT 120)
