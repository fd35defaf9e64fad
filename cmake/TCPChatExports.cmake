# What libtcpchat.so exports, and the ABI gate over it.
#
#   cmake/tcpchat.map           the version script: tcpchat_* under TCPCHAT_1.0 (later releases add
#                               nodes), the Swift module's $s* symbols, nothing else (the ctc_*
#                               shim and every other C internal are local)
#   tcpchat_abi_twin            abi/libtcpchat.so.1 in the build tree: the header's functions as
#                               empty C bodies with DWARF, for libabigail (cmake/TCPChatABITwin.cmake
#                               says why); built with the tests
#   abi-baseline (target)       rewrites abi/libtcpchat.abi, the committed ABI of the release, from
#                               the twin: run it once per release, after the header is final
#
# SwiftPM builds the same library without the version script (unsafeFlags in a library target
# would stop other packages from depending on ours): README "Building with CMake" says which to
# ship.

set(TCPCHAT_VERSION_SCRIPT ${PROJECT_SOURCE_DIR}/cmake/tcpchat.map)
target_link_options(tcpchat PRIVATE "LINKER:--version-script=${TCPCHAT_VERSION_SCRIPT}")
set_property(TARGET tcpchat APPEND PROPERTY LINK_DEPENDS ${TCPCHAT_VERSION_SCRIPT})

if(NOT BUILD_TESTING)
  return()
endif()

set(tcpchat_abi_twin_source ${CMAKE_BINARY_DIR}/abi/tcpchat_abi_twin.c)
add_custom_command(
  OUTPUT ${tcpchat_abi_twin_source}
  COMMAND ${CMAKE_COMMAND} -DHEADER=${PROJECT_SOURCE_DIR}/Include/tcpchat.h
          -DOUTPUT=${tcpchat_abi_twin_source} -P ${PROJECT_SOURCE_DIR}/cmake/TCPChatABITwin.cmake
  DEPENDS ${PROJECT_SOURCE_DIR}/Include/tcpchat.h ${PROJECT_SOURCE_DIR}/cmake/TCPChatABITwin.cmake
  COMMENT "Generating the ABI twin of libtcpchat from Include/tcpchat.h"
  VERBATIM)
add_library(tcpchat_abi_twin SHARED ${tcpchat_abi_twin_source})
target_include_directories(tcpchat_abi_twin PRIVATE ${PROJECT_SOURCE_DIR}/Include)
# DWARF 4 without optimisation: every parameter and type as declared; paths relative to the
# build and source trees, so the committed baseline does not name this checkout.
target_compile_options(tcpchat_abi_twin PRIVATE -g -gdwarf-4 -O0
  -fdebug-prefix-map=${CMAKE_BINARY_DIR}/= -fdebug-prefix-map=${PROJECT_SOURCE_DIR}/=)
target_link_options(tcpchat_abi_twin PRIVATE "LINKER:--version-script=${TCPCHAT_VERSION_SCRIPT}")
set_target_properties(tcpchat_abi_twin PROPERTIES
  OUTPUT_NAME tcpchat
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR}
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/abi
  LINK_DEPENDS ${TCPCHAT_VERSION_SCRIPT})

find_program(TCPCHAT_ABIDW abidw)
if(TCPCHAT_ABIDW)
  # Paths and line numbers left out: the baseline must not change with the checkout's place.
  add_custom_target(abi-baseline
    COMMAND ${TCPCHAT_ABIDW} --no-corpus-path --no-comp-dir-path --no-show-locs
            --headers-dir ${PROJECT_SOURCE_DIR}/Include
            --out-file ${PROJECT_SOURCE_DIR}/abi/libtcpchat.abi
            $<TARGET_FILE:tcpchat_abi_twin>
    DEPENDS tcpchat_abi_twin
    COMMENT "Writing abi/libtcpchat.abi (the ABI of this release) from the header's twin"
    VERBATIM)
endif()
