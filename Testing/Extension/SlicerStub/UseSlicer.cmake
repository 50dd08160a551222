# TEST DOUBLE, not Slicer's UseSlicer.cmake (see SlicerConfig.cmake here): records that it was included and, like
# the real one, names the extension after the project when EXTENSION_NAME is not set.
if(NOT DEFINED EXTENSION_NAME)
  set(EXTENSION_NAME ${PROJECT_NAME})
endif()
file(APPEND ${SLICER_STUB_RECORD} "UseSlicer\nUseSlicer.EXTENSION_NAME=${EXTENSION_NAME}\n")
