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

# JPEG reading, format detection, area resampling, image folders, NIfTI writing and PNG grids, on files it writes.
medgen_add_test(test_image_folder test_image_folder.c LABELS io)
target_link_libraries(test_image_folder PRIVATE medgen_io PkgConfig::JPEG OpenMP::OpenMP_C ZLIB::ZLIB)
# A few real MedNIST JPEGs from ../shared/data/MedNIST-64.tar.gz; skips with exit code 77 where it is absent.
add_test(NAME test_image_folder_mednist COMMAND test_image_folder --mednist ${MedGen_SHARED_DATA})
set_tests_properties(test_image_folder_mednist PROPERTIES LABELS "engine;io" SKIP_RETURN_CODE 77 TIMEOUT 60)
# The NIfTI writer's files read by nibabel (Debian's python3-nibabel); skips where it is not installed.
add_test(NAME test_nifti_nibabel COMMAND test_image_folder --nibabel ${MedGen_PYTHON}
                                         ${PROJECT_SOURCE_DIR}/Testing/Python/nifti_nibabel_check.py)
set_tests_properties(test_nifti_nibabel PROPERTIES LABELS "engine;io" SKIP_RETURN_CODE 77 TIMEOUT 60)

# medgen train and sample end to end on a tiny generated image folder (needs only /usr/bin/python3's standard library).
add_test(NAME test_medgen_train COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_medgen_train.sh $<TARGET_FILE:medgen>
                                        ${CMAKE_CURRENT_BINARY_DIR}/medgen_train)
set_tests_properties(test_medgen_train PROPERTIES LABELS "tool" TIMEOUT 300 ENVIRONMENT OMP_WAIT_POLICY=PASSIVE)

# medgen train --model gan, sample (incl. --interpolate) and info end to end on a tiny generated image folder.
add_test(NAME test_medgen_gan COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_medgen_gan.sh $<TARGET_FILE:medgen>
                                      ${CMAKE_CURRENT_BINARY_DIR}/medgen_gan)
set_tests_properties(test_medgen_gan PROPERTIES LABELS "tool" TIMEOUT 300 ENVIRONMENT OMP_WAIT_POLICY=PASSIVE)

# --device and --tf32 across the commands: usage errors, cuda without a GPU (exit 1, the engine's reason, nothing
# written; skipped where a GPU is usable), auto's note once, the device noted in the run.
add_test(NAME test_medgen_device COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_medgen_device.sh $<TARGET_FILE:medgen>
                                         ${CMAKE_CURRENT_BINARY_DIR}/medgen_device)
set_tests_properties(test_medgen_device PROPERTIES LABELS "tool" TIMEOUT 120 ENVIRONMENT OMP_WAIT_POLICY=PASSIVE)
