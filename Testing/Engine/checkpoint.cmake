# Checkpoints: the safetensors format (good and hostile files, atomic writes), also under AddressSanitizer + UBSan;
# saving and restoring models and training state; Python interoperability; `medgen info`.
medgen_add_test(test_checkpoint test_checkpoint.c LABELS checkpoint)
medgen_add_test(test_checkpoint_engine test_checkpoint_engine.c LABELS checkpoint)

# The file-format test again, built from checkpoint.c + atomic_file.c + status.c alone with the sanitizers on this
# target only, so the normal ctest run catches any out-of-bounds read, undefined behaviour or leak on a hostile file.
set(MEDGEN_SANITIZER_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
include(CheckCSourceCompiles)
set(CMAKE_REQUIRED_FLAGS "-fsanitize=address,undefined")
set(CMAKE_REQUIRED_LINK_OPTIONS "-fsanitize=address,undefined")
check_c_source_compiles("int main(void) { return 0; }" MEDGEN_HAVE_SANITIZERS)
unset(CMAKE_REQUIRED_FLAGS)
unset(CMAKE_REQUIRED_LINK_OPTIONS)
if(MEDGEN_HAVE_SANITIZERS)
  add_executable(test_checkpoint_asan test_checkpoint.c test_check.c ${PROJECT_SOURCE_DIR}/Logic/Engine/checkpoint.c
                                      ${PROJECT_SOURCE_DIR}/Logic/Engine/atomic_file.c
                                      ${PROJECT_SOURCE_DIR}/Logic/Engine/status.c)
  target_include_directories(test_checkpoint_asan PRIVATE ${PROJECT_SOURCE_DIR}/Logic/Engine)
  target_link_libraries(test_checkpoint_asan PRIVATE PkgConfig::CJSON)
  target_compile_options(test_checkpoint_asan PRIVATE ${MEDGEN_SANITIZER_FLAGS})
  target_link_options(test_checkpoint_asan PRIVATE ${MEDGEN_SANITIZER_FLAGS})
  add_test(NAME test_checkpoint_asan COMMAND test_checkpoint_asan)
  set_tests_properties(test_checkpoint_asan PROPERTIES LABELS "engine;checkpoint;sanitizer"
                       ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0;UBSAN_OPTIONS=print_stacktrace=1")
else()
  message(STATUS "test_checkpoint_asan: the compiler cannot build with -fsanitize=address,undefined; skipped")
endif()

# Python interoperability: an independent reader/writer in Python (json + struct + numpy) against ours.
if(MedGen_PYTHON)
  medgen_add_test(test_checkpoint_python test_checkpoint_python.c LABELS checkpoint python
                  ARGS ${MedGen_PYTHON} ${PROJECT_SOURCE_DIR}/Testing/Python/read_safetensors.py)
  set_tests_properties(test_checkpoint_python PROPERTIES SKIP_RETURN_CODE 77)
endif()

# `medgen info` on a good and a corrupt checkpoint, written by test_checkpoint --write-samples.
if(TARGET medgen)
  set(samples ${CMAKE_CURRENT_BINARY_DIR}/checkpoint_samples)
  add_test(NAME medgen_info_samples COMMAND test_checkpoint --write-samples ${samples})
  set_tests_properties(medgen_info_samples PROPERTIES FIXTURES_SETUP checkpoint_samples LABELS "checkpoint;tool")
  add_test(NAME medgen_info_good COMMAND medgen info ${samples}/good.safetensors)
  set(good_info "step: 1000.*tensors: 6 .*model\\. +2 tensors +80 values.*optim\\.m\\.conv\\.weight +\\[8, 1, 3, 3\\]")
  set_tests_properties(medgen_info_good PROPERTIES FIXTURES_REQUIRED checkpoint_samples LABELS "checkpoint;tool"
                       PASS_REGULAR_EXPRESSION "${good_info}")
  add_test(NAME medgen_info_all COMMAND medgen info --all ${samples}/good.safetensors)
  set_tests_properties(medgen_info_all PROPERTIES FIXTURES_REQUIRED checkpoint_samples LABELS "checkpoint;tool")
  # A corrupt file: the one-line reason naming the file, and exit code 1 (two tests: CTest checks one or the other).
  add_test(NAME medgen_info_corrupt COMMAND medgen info ${samples}/corrupt.safetensors)
  set_tests_properties(medgen_info_corrupt PROPERTIES FIXTURES_REQUIRED checkpoint_samples LABELS "checkpoint;tool"
                       PASS_REGULAR_EXPRESSION "corrupt\\.safetensors: tensor '[a-z.]+': data_offsets .* outside")
  add_test(NAME medgen_info_corrupt_exit COMMAND medgen info ${samples}/corrupt.safetensors)
  set_tests_properties(medgen_info_corrupt_exit PROPERTIES FIXTURES_REQUIRED checkpoint_samples WILL_FAIL TRUE
                       LABELS "checkpoint;tool")
endif()
