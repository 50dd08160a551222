# mg_itk_image_read (Logic/ITK/mg_itk.h): 2D images in every format ITK reads (DICOM with a rescale, TIFF, BMP,
# NRRD), as mg_image_folder_read's fallback reader beside Logic/IO's PNG reader; 3D, multi-frame and garbage refused.
medgen_add_itk_test(mgItkImageReadTest mgItkImageReadTest.cxx LABELS image_read
                    ARGS ${CMAKE_CURRENT_BINARY_DIR}/image_read_scratch)
# `medgen train` on class folders of DICOM (with and without extension), TIFF, BMP and PNG files that
# mgItkImageReadTest --write-folders writes; a garbage file and a multi-frame DICOM are refused by name.
if(TARGET medgen)
  add_test(NAME test_medgen_folders
           COMMAND sh ${PROJECT_SOURCE_DIR}/Testing/Engine/test_medgen_folders.sh $<TARGET_FILE:medgen>
                   $<TARGET_FILE:mgItkImageReadTest> ${CMAKE_CURRENT_BINARY_DIR}/folders_cli_scratch)
  set_tests_properties(test_medgen_folders PROPERTIES LABELS "tool;itk;image_read" TIMEOUT 120
                       ENVIRONMENT OMP_WAIT_POLICY=PASSIVE)
endif()
