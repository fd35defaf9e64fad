# What `cmake --install` puts under the prefix, every piece of it relocatable (the tree works
# after `mv` to another directory):
#
#   lib/libtcpchat.so*                      SONAME libtcpchat.so.1; RUNPATH $ORIGIN
#   lib/libswiftCore.so, libdispatch.so...  the Swift runtime libraries the library and the
#                                           programs need (TCPCHAT_BUNDLE_SWIFT_RUNTIME, default
#                                           ON; OFF: RUNPATHs name the toolchain's instead)
#   include/tcpchat.h                       the C API
#   bin/tcpchat-server, tcpchat, ...        RUNPATH: $ORIGIN/../lib
#   share/tcpchat/swift-runtime.supp        valgrind suppressions for a program that embeds us
#   lib/pkgconfig/tcpchat.pc                paths relative to ${pcfiledir}
#   lib/cmake/TCPChat/                      find_package(TCPChat): TCPChat::tcpchat
#   lib/swift/linux/TCPChat.swiftmodule/    the Swift module (this toolchain's format), the
#   lib/swift/linux/TCPChatNet, TCPChatCore  modules it re-exports, and the
#   lib/swift/linux/CTCPChat, CTCPChatLinux module maps of the C modules it imports
include(CMakePackageConfigHelpers)

set(TCPCHAT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/TCPChat)
set(TCPCHAT_SWIFT_MODULE_DIR ${CMAKE_INSTALL_LIBDIR}/swift/${TCPCHAT_SWIFT_OS})

# --- the library and its header ---------------------------------------------------------------
install(TARGETS tcpchat EXPORT TCPChatTargets RUNTIME_DEPENDENCY_SET tcpchat_swift_runtime
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${PROJECT_SOURCE_DIR}/Include/tcpchat.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# --- the Swift runtime, bundled ---------------------------------------------------------------
# Of everything the library and the programs need (DT_NEEDED, followed recursively), the files
# that come from the toolchain's runtime directory: libswiftCore.so, libswift_Concurrency.so,
# libdispatch.so, ... (libc and the rest of the system are the system's). They keep their own
# RUNPATH, $ORIGIN, so they find each other. Why not the static runtime (-static-stdlib): a
# shared library that carries its own copy of the runtime cannot share Swift types with a Swift
# program that loads the dynamic one (two runtimes, two sets of metadata in one process), and it
# grows every program that embeds us; README "Building with CMake" has the measurements.
if(TCPCHAT_BUNDLE_SWIFT_RUNTIME)
  string(REGEX REPLACE "([][+.*()^$?|\\])" "\\\\\\1" _runtime_dir_regex "${TCPCHAT_SWIFT_RUNTIME_DIR}")
  install(RUNTIME_DEPENDENCY_SET tcpchat_swift_runtime
    DIRECTORIES ${TCPCHAT_SWIFT_RUNTIME_DIR}
    POST_INCLUDE_REGEXES "^${_runtime_dir_regex}/"
    POST_EXCLUDE_REGEXES ".*"
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
endif()

# --- valgrind: the suppressions a C program that embeds us needs ---------------------------------
install(FILES ${PROJECT_SOURCE_DIR}/Tests/c/swift-runtime.supp DESTINATION ${CMAKE_INSTALL_DATADIR}/tcpchat)

# --- the Swift module -------------------------------------------------------------------------
# `swiftc -I PREFIX/lib/swift/linux -L PREFIX/lib -ltcpchat` then finds `import TCPChat`. The
# module is only readable by this same compiler version (CMake builds no .swiftinterface).
# TCPChat imports two C modules, which its users must find too: CTCPChat (the installed
# tcpchat.h, through a module map that points at it relatively) and CTCPChatLinux (a copy of
# the shim's header next to its module map).
if(TCPCHAT_INSTALL_SWIFT_MODULE)
  # TCPChat re-exports its lower layers (TCPChatNet, TCPChatCore): their modules go too.
  foreach(module TCPChat TCPChatNet TCPChatCore)
    foreach(kind swiftmodule swiftdoc)
      install(FILES ${CMAKE_Swift_MODULE_DIRECTORY}/${module}.${kind}
        DESTINATION ${TCPCHAT_SWIFT_MODULE_DIR}/${module}.swiftmodule
        RENAME ${TCPCHAT_SWIFT_MODULE_TRIPLE}.${kind})
    endforeach()
  endforeach()

  file(RELATIVE_PATH header_from_module_map
       /prefix/${TCPCHAT_SWIFT_MODULE_DIR}/CTCPChat /prefix/${CMAKE_INSTALL_INCLUDEDIR}/tcpchat.h)
  set(installed_module_map ${CMAKE_BINARY_DIR}/install-modules/CTCPChat/module.modulemap)
  file(WRITE ${installed_module_map}
       "module CTCPChat {\n    header \"${header_from_module_map}\"\n    export *\n}\n")
  install(FILES ${installed_module_map} DESTINATION ${TCPCHAT_SWIFT_MODULE_DIR}/CTCPChat)
  install(DIRECTORY ${TCPCHAT_SWIFT_C_MODULES}/CTCPChatLinux DESTINATION ${TCPCHAT_SWIFT_MODULE_DIR})
  install(DIRECTORY ${TCPCHAT_SWIFT_C_MODULES}/CTCPChatTLS DESTINATION ${TCPCHAT_SWIFT_MODULE_DIR})
  install(DIRECTORY ${TCPCHAT_SWIFT_C_MODULES}/CTCPChatUnicode DESTINATION ${TCPCHAT_SWIFT_MODULE_DIR})
  install(DIRECTORY ${TCPCHAT_SWIFT_C_MODULES}/CTCPChatAccounts DESTINATION ${TCPCHAT_SWIFT_MODULE_DIR})

  # CMake projects that link TCPChat::tcpchat from Swift get the module directory too.
  target_include_directories(tcpchat INTERFACE
    $<INSTALL_INTERFACE:$<$<COMPILE_LANGUAGE:Swift>:$<INSTALL_PREFIX>/${TCPCHAT_SWIFT_MODULE_DIR}>>)
endif()

# --- pkg-config -------------------------------------------------------------------------------
# prefix is found from the .pc file's own place (${pcfiledir}), so the prefix given at install
# time, or a later `mv`, needs no edit. The paths below are relative to the prefix when
# GNUInstallDirs made them so (the usual case); absolute ones are kept as given.
set(pc_dir ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(IS_ABSOLUTE "${pc_dir}")
  set(PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH to_prefix /prefix/${pc_dir} /prefix)
  string(REGEX REPLACE "/$" "" to_prefix "${to_prefix}")
  set(PC_PREFIX "\${pcfiledir}/${to_prefix}")
endif()
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
configure_file(${PROJECT_SOURCE_DIR}/cmake/tcpchat.pc.in ${CMAKE_BINARY_DIR}/tcpchat.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/tcpchat.pc DESTINATION ${pc_dir})

# --- CMake package: find_package(TCPChat) -> TCPChat::tcpchat ----------------------------------
install(EXPORT TCPChatTargets NAMESPACE TCPChat:: DESTINATION ${TCPCHAT_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/TCPChatConfig.cmake.in
  ${CMAKE_BINARY_DIR}/TCPChatConfig.cmake
  INSTALL_DESTINATION ${TCPCHAT_CMAKE_DIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR TCPCHAT_SWIFT_MODULE_DIR)
# The SONAME changes with the major version only, and so does compatibility.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/TCPChatConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_BINARY_DIR}/TCPChatConfig.cmake ${CMAKE_BINARY_DIR}/TCPChatConfigVersion.cmake
  DESTINATION ${TCPCHAT_CMAKE_DIR})
