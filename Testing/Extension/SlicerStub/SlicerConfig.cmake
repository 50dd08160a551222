# TEST DOUBLE, not Slicer: a stand-in SlicerConfig.cmake so that Testing/Extension can configure MedGen's extension
# mode without a Slicer build tree. It defines the Slicer_* variables MedGen's CMake reads (values as a Slicer 5.12
# build tree has them) and replaces Slicer's module macros with recorders: each call is written to
# ${CMAKE_BINARY_DIR}/SlicerStubRecord.txt, one "key=value" line per argument, for check_extension.py to inspect.
# Nothing is built; configure only.
set(Slicer_VERSION_MAJOR 5)
set(Slicer_VERSION_MINOR 12)
set(Slicer_LIB_DIR lib/Slicer-5.12)
set(Slicer_QTLOADABLEMODULES_LIB_DIR ${Slicer_LIB_DIR}/qt-loadable-modules)
set(Slicer_QTLOADABLEMODULES_BIN_DIR ${Slicer_LIB_DIR}/qt-loadable-modules)
set(Slicer_CLIMODULES_BIN_DIR ${Slicer_LIB_DIR}/cli-modules)
set(Slicer_CLIMODULES_LIB_DIR ${Slicer_LIB_DIR}/cli-modules)
set(Slicer_INSTALL_QTLOADABLEMODULES_LIB_DIR ${Slicer_QTLOADABLEMODULES_LIB_DIR})
set(Slicer_INSTALL_QTLOADABLEMODULES_BIN_DIR ${Slicer_QTLOADABLEMODULES_BIN_DIR})
set(Slicer_INSTALL_CLIMODULES_BIN_DIR ${Slicer_CLIMODULES_BIN_DIR})
set(Slicer_INSTALL_CLIMODULES_LIB_DIR ${Slicer_CLIMODULES_LIB_DIR})
set(Slicer_USE_FILE ${CMAKE_CURRENT_LIST_DIR}/UseSlicer.cmake)
set(Slicer_EXTENSION_GENERATE_CONFIG ${CMAKE_CURRENT_LIST_DIR}/SlicerExtensionGenerateConfig.cmake)
set(Slicer_EXTENSION_CPACK ${CMAKE_CURRENT_LIST_DIR}/SlicerExtensionCPack.cmake)
set(Slicer_FOUND TRUE)

set(SLICER_STUB_RECORD ${CMAKE_BINARY_DIR}/SlicerStubRecord.txt)
file(WRITE ${SLICER_STUB_RECORD} "")

# Records one call: "<what>" then "<what>.<KEY>=<value>" per keyword argument (lists joined by spaces). Sources given
# relative to the calling directory are recorded as absolute paths, so the test can check that they exist.
function(slicer_stub_record what)
  cmake_parse_arguments(ARG "WITH_GENERIC_TESTS;NO_TITLE" "NAME;TITLE;EXPORT_DIRECTIVE"
                        "SRCS;UI_SRCS;RESOURCES;TARGET_LIBRARIES;INCLUDE_DIRECTORIES;MOC_SRCS" ${ARGN})
  file(APPEND ${SLICER_STUB_RECORD} "${what}\n")
  foreach(key NAME TITLE EXPORT_DIRECTIVE TARGET_LIBRARIES)
    string(REPLACE ";" " " value "${ARG_${key}}")
    file(APPEND ${SLICER_STUB_RECORD} "${what}.${key}=${value}\n")
  endforeach()
  foreach(key SRCS UI_SRCS RESOURCES)
    set(paths "")
    foreach(source IN LISTS ARG_${key})
      get_filename_component(path "${source}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
      list(APPEND paths "${path}")
    endforeach()
    string(REPLACE ";" " " value "${paths}")
    file(APPEND ${SLICER_STUB_RECORD} "${what}.${key}=${value}\n")
  endforeach()
endfunction()

macro(slicerMacroBuildLoadableModule)
  slicer_stub_record(slicerMacroBuildLoadableModule ${ARGN})
endmacro()

macro(SlicerMacroBuildModuleLogic)
  slicer_stub_record(SlicerMacroBuildModuleLogic ${ARGN})
endmacro()
