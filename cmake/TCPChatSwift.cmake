# What the Swift toolchain tells us about itself, for installing the library and the Swift module.
#
#   TCPCHAT_SWIFT_RUNTIME_DIR   where libswiftCore.so and friends live; the installed library and
#                               programs carry it in their RUNPATH, so nobody needs
#                               LD_LIBRARY_PATH to find the Swift runtime
#   TCPCHAT_SWIFT_MODULE_TRIPLE the name a .swiftmodule takes inside Module.swiftmodule/ (as the
#                               toolchain's own modules and swift-argument-parser install them)
#   TCPCHAT_SWIFT_OS            the platform folder name, "linux" here (lib/swift/linux)

set(_command "${CMAKE_Swift_COMPILER}" -print-target-info)
if(CMAKE_Swift_COMPILER_TARGET)
  list(APPEND _command -target "${CMAKE_Swift_COMPILER_TARGET}")
endif()
execute_process(COMMAND ${_command} OUTPUT_VARIABLE _info RESULT_VARIABLE _status)
if(NOT _status EQUAL 0)
  message(FATAL_ERROR "${CMAKE_Swift_COMPILER} -print-target-info failed")
endif()

string(JSON TCPCHAT_SWIFT_RUNTIME_DIR GET "${_info}" paths runtimeLibraryPaths 0)
string(JSON TCPCHAT_SWIFT_MODULE_TRIPLE GET "${_info}" target moduleTriple)
string(JSON TCPCHAT_SWIFT_OS GET "${_info}" target platform)
message(STATUS "Swift runtime: ${TCPCHAT_SWIFT_RUNTIME_DIR} (${TCPCHAT_SWIFT_MODULE_TRIPLE})")

unset(_command)
unset(_info)
unset(_status)
