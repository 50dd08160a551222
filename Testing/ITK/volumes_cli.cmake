# `medgen train` on volumes (Tools/medgen/cmd_train.c over mg_itk.h): medgenMakeTestVolumes writes small synthetic
# volumes (NIfTI, NRRD, MetaImage, DICOM series, a label map, class folders and bad inputs) that
# test_medgen_volumes.sh trains tiny models on; its last run uses the shared head CT (skipped where it is absent).
if(TARGET medgen)
  add_executable(medgenMakeTestVolumes medgenMakeTestVolumes.cxx)
  target_link_libraries(medgenMakeTestVolumes PRIVATE medgen_itk)
  add_test(NAME test_medgen_volumes
           COMMAND sh ${PROJECT_SOURCE_DIR}/Testing/Engine/test_medgen_volumes.sh $<TARGET_FILE:medgen>
                   $<TARGET_FILE:medgenMakeTestVolumes> ${CMAKE_CURRENT_BINARY_DIR}/volumes_cli_scratch
                   ${PROJECT_SOURCE_DIR}/../shared/data/volumes/cranium_ct.nii.gz)
  set_tests_properties(test_medgen_volumes PROPERTIES LABELS "tool;itk" TIMEOUT 300
                       ENVIRONMENT OMP_WAIT_POLICY=PASSIVE)
endif()
