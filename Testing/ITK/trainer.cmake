# itk::MedGenTrainer (Logic/ITK/itkMedGenTrainer.h): tiny DDPMs and a tiny GAN trained on a synthetic phantom in
# memory and through .nrrd; determinism, abort and resume, sampling back through MedGenImageSource, refusals.
medgen_add_itk_test(itkMedGenTrainerTest itkMedGenTrainerTest.cxx ARGS ${CMAKE_CURRENT_BINARY_DIR})
