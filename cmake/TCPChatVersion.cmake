# The library's version has one source: the TCPCHAT_VERSION_* macros of Include/tcpchat.h, which
# C callers see at compile time and tcpchat_version() returns at run time. This reads them so
# that project(VERSION), the SONAME (libtcpchat.so.MAJOR), tcpchat.pc and the CMake package
# version file can never disagree with the header.
#
# Sets TCPCHAT_VERSION ("MAJOR.MINOR.PATCH") and TCPCHAT_VERSION_MAJOR/_MINOR/_PATCH, and makes
# an edit to the header re-run the configure step.

set(_tcpchat_header "${CMAKE_CURRENT_LIST_DIR}/../Include/tcpchat.h")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_tcpchat_header}")

foreach(_part MAJOR MINOR PATCH)
  file(STRINGS "${_tcpchat_header}" _line
       REGEX "^#define TCPCHAT_VERSION_${_part} +[0-9]+ *$")
  if(NOT _line MATCHES "^#define TCPCHAT_VERSION_${_part} +([0-9]+)")
    message(FATAL_ERROR "cannot read TCPCHAT_VERSION_${_part} from ${_tcpchat_header}")
  endif()
  set(TCPCHAT_VERSION_${_part} "${CMAKE_MATCH_1}")
endforeach()
set(TCPCHAT_VERSION "${TCPCHAT_VERSION_MAJOR}.${TCPCHAT_VERSION_MINOR}.${TCPCHAT_VERSION_PATCH}")

# The string macro must say the same thing; a mismatch here is a header bug.
file(STRINGS "${_tcpchat_header}" _line REGEX "^#define TCPCHAT_VERSION_STRING ")
if(NOT _line MATCHES "\"${TCPCHAT_VERSION}\"")
  message(FATAL_ERROR "TCPCHAT_VERSION_STRING in ${_tcpchat_header} is not \"${TCPCHAT_VERSION}\"")
endif()

unset(_tcpchat_header)
unset(_part)
unset(_line)
