# What `cmake --install` puts in place: the plugin SDK (header-only C++ over
# the C ABI), a CMake package so that an out-of-tree plugin builds with
# find_package(Kindred), the plugin ABI's schema, and the kindred binary.
#
#   cmake --install build --prefix /usr/local
#   # then, in a plugin's CMakeLists.txt:
#   find_package(Kindred 0.1 REQUIRED)
#   kindred_add_plugin(hello_plugin hello.cc)   # or link Kindred::plugin_sdk yourself
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(KINDRED_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/Kindred)

# The SDK: standard C++20 headers and nothing else (no internal header, no
# protobuf, no libsodium).
add_library(kindred_plugin_sdk INTERFACE)
add_library(kindred::plugin_sdk ALIAS kindred_plugin_sdk)
set_target_properties(kindred_plugin_sdk PROPERTIES EXPORT_NAME plugin_sdk)
target_include_directories(kindred_plugin_sdk INTERFACE
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/engine/include>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_compile_features(kindred_plugin_sdk INTERFACE cxx_std_20)
install(TARGETS kindred_plugin_sdk EXPORT KindredTargets)
install(FILES
    ${PROJECT_SOURCE_DIR}/engine/include/kindred/plugin_abi.h
    ${PROJECT_SOURCE_DIR}/engine/include/kindred/plugin.h
    ${PROJECT_SOURCE_DIR}/engine/include/kindred/plugin_types.h
    ${PROJECT_SOURCE_DIR}/engine/include/kindred/plugin_wire.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/kindred)
# The messages that cross the ABI, for hosts and plugins in other languages.
install(FILES ${PROJECT_SOURCE_DIR}/proto/plugin/v1/plugin.proto
  DESTINATION ${CMAKE_INSTALL_DATADIR}/kindred/proto/plugin/v1)

install(EXPORT KindredTargets NAMESPACE Kindred:: DESTINATION ${KINDRED_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/KindredConfig.cmake.in
  ${PROJECT_BINARY_DIR}/KindredConfig.cmake
  INSTALL_DESTINATION ${KINDRED_CMAKE_DIR})
# Before 1.0, a minor release may change the ABI version; the host says so clearly.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/KindredConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES
    ${PROJECT_BINARY_DIR}/KindredConfig.cmake
    ${PROJECT_BINARY_DIR}/KindredConfigVersion.cmake
    ${PROJECT_SOURCE_DIR}/cmake/KindredPlugin.cmake
  DESTINATION ${KINDRED_CMAKE_DIR})

if(TARGET kindred)
  install(TARGETS kindred RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
# The process third-party plugins run in (docs/plugins.md, "Process model"):
# kindred looks for it next to itself (the build tree's bin/) and in
# ../libexec/kindred/ (an installed tree). Building kindred builds it.
if(TARGET kindred AND TARGET kindred-plugin-runner)
  add_dependencies(kindred kindred-plugin-runner)
  install(TARGETS kindred-plugin-runner RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/kindred)
endif()
