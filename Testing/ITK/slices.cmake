# medgen::SliceSet (Logic/ITK/medgenVolumeSlices): synthetic NRRD/MHA volumes written by the test, the shared CT
# (skipped where ../shared/data is absent) and mricron-data's brain MRI (skipped where the package is absent).
medgen_add_itk_test(medgenVolumeSlicesTest medgenVolumeSlicesTest.cxx LABELS slices
  ARGS ${CMAKE_CURRENT_BINARY_DIR}/slices_scratch ${PROJECT_SOURCE_DIR}/../shared/data /usr/share/mricron/templates)
