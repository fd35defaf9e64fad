# apple/swift-argument-parser, which the programs use for their command lines (as in
# Package.swift). Either an installed copy (find_package(ArgumentParser), e.g. a toolchain's or
# one given with -DArgumentParser_DIR=...) or its own CMake build from a git checkout, added as
# a subproject.
#
# FetchContent clones TCPCHAT_ARGUMENT_PARSER_REPOSITORY at a pinned commit. To configure
# without any network, point that at a local clone or mirror (git's url.<base>.insteadOf rules
# apply, as for SwiftPM), or give an unpacked source tree with
# -DFETCHCONTENT_SOURCE_DIR_ARGUMENTPARSER=/path/to/swift-argument-parser.
#
# The subproject is built static and excluded from `all` and from installation: the programs
# link it in, and nothing of it ends up in the install prefix.

find_package(ArgumentParser CONFIG QUIET)
if(TARGET ArgumentParser)
  message(STATUS "ArgumentParser: ${ArgumentParser_DIR}")
  return()
endif()

set(TCPCHAT_ARGUMENT_PARSER_REPOSITORY "https://github.com/apple/swift-argument-parser.git"
    CACHE STRING "git repository of swift-argument-parser (a URL or a local path)")
# 1.8.2, the version Package.swift resolves to; a commit, so the build is reproducible.
set(TCPCHAT_ARGUMENT_PARSER_COMMIT "436bde4bb9489201ca6662f5cf94ec45fa8e244e"
    CACHE STRING "commit of swift-argument-parser to build")

include(FetchContent)
FetchContent_Declare(ArgumentParser
  GIT_REPOSITORY "${TCPCHAT_ARGUMENT_PARSER_REPOSITORY}"
  GIT_TAG "${TCPCHAT_ARGUMENT_PARSER_COMMIT}")
FetchContent_GetProperties(ArgumentParser)
if(NOT argumentparser_POPULATED)
  FetchContent_Populate(ArgumentParser)
  message(STATUS "ArgumentParser: ${argumentparser_SOURCE_DIR}")

  # Its own switches, for its directory only: no examples, no tests, a static library.
  block(SCOPE_FOR VARIABLES)
    set(BUILD_EXAMPLES OFF)
    set(BUILD_TESTING OFF)
    set(BUILD_SHARED_LIBS OFF)
    add_subdirectory(${argumentparser_SOURCE_DIR} ${argumentparser_BINARY_DIR} EXCLUDE_FROM_ALL)
  endblock()
endif()
