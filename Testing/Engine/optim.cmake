# Random numbers, optimizers and training determinism. The Python references run under ${MedGen_PYTHON}.
medgen_add_test(test_philox test_philox.c LABELS optim
                ARGS ${MedGen_PYTHON} ${PROJECT_SOURCE_DIR}/Testing/Python/philox_reference.py)
medgen_add_test(test_optim test_optim.c LABELS optim
                ARGS ${MedGen_PYTHON} ${PROJECT_SOURCE_DIR}/Testing/Python/optim_reference.py
                     ${CMAKE_CURRENT_BINARY_DIR}/optim_reference)
medgen_add_test(test_determinism test_determinism.c LABELS optim)
