# TEST DOUBLE, not Slicer's SlicerExtensionCPack.cmake (see SlicerConfig.cmake here): records that it was included.
file(APPEND ${SLICER_STUB_RECORD} "CPack\n")
