# TEST DOUBLE, not Slicer's SlicerExtensionGenerateConfig.cmake (see SlicerConfig.cmake here). Included after every
# module, so it records the extension description as CMake evaluated it and the targets the extension defined: their
# type and where they are written.
file(APPEND ${SLICER_STUB_RECORD} "GenerateConfig\n")
foreach(var HOMEPAGE CATEGORY CONTRIBUTORS DESCRIPTION ICONURL SCREENSHOTURLS STATUS DEPENDS)
  file(APPEND ${SLICER_STUB_RECORD} "EXTENSION_${var}=${EXTENSION_${var}}\n")
endforeach()
foreach(target medgen_kernels medgen_engine medgen_io medgen_itk medgen_vtk medgen_widgets MedGenTrain MedGenSample)
  if(TARGET ${target})
    get_target_property(type ${target} TYPE)
    get_target_property(libraryDir ${target} LIBRARY_OUTPUT_DIRECTORY)
    get_target_property(runtimeDir ${target} RUNTIME_OUTPUT_DIRECTORY)
    file(APPEND ${SLICER_STUB_RECORD} "target.${target}=${type} library:${libraryDir} runtime:${runtimeDir}\n")
  endif()
endforeach()
