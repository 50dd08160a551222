# mg_itk_write_stack (Logic/ITK/mg_itk.h): synthetic stacks in every format and pixel type, read back with ITK.
medgen_add_itk_test(mgItkWriteTest mgItkWriteTest.cxx LABELS write ARGS ${CMAKE_CURRENT_BINARY_DIR}/write_scratch)
# `medgen sample` into NIfTI, NRRD, MetaImage and DICOM from a tiny DDPM and a tiny GAN trained on generated PNGs;
# mgItkWriteTest --describe reads what it wrote.
add_test(NAME test_medgen_sample_formats
         COMMAND sh ${PROJECT_SOURCE_DIR}/Testing/Engine/test_medgen_sample_formats.sh $<TARGET_FILE:medgen>
                 $<TARGET_FILE:mgItkWriteTest> ${CMAKE_CURRENT_BINARY_DIR}/sample_formats_scratch)
set_tests_properties(test_medgen_sample_formats PROPERTIES LABELS "tool;itk;write" TIMEOUT 120
                     ENVIRONMENT OMP_WAIT_POLICY=PASSIVE)
