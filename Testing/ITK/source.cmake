# itk::MedGenImageSource (Logic/ITK/itkMedGenImageSource.h): a tiny GAN and a tiny DDPM made in the test, sampled
# through ITK pipelines into .nrrd, .mha and .nii.gz files and read back.
medgen_add_itk_test(itkMedGenImageSourceTest itkMedGenImageSourceTest.cxx ARGS ${CMAKE_CURRENT_BINARY_DIR})
