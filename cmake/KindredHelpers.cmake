# Small helpers that declare Kindred's targets in one consistent way,
# after Abseil's absl_cc_library: one library per component, each with a
# kindred::NAME alias and its own dependencies listed next to it.

# kindred_cc_library(NAME name SRCS ... [HDRS ...] [DEPS ...] [PUBLIC_DEPS ...])
function(kindred_cc_library)
  cmake_parse_arguments(K "" "NAME" "SRCS;HDRS;DEPS;PUBLIC_DEPS" ${ARGN})
  set(target kindred_${K_NAME})
  if(K_SRCS)
    add_library(${target} STATIC ${K_SRCS} ${K_HDRS})
    target_include_directories(${target} PUBLIC
      $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/engine/include>
      $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
      $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/proto>)
    target_link_libraries(${target} PUBLIC ${K_PUBLIC_DEPS} PRIVATE ${K_DEPS})
    target_compile_options(${target} PRIVATE ${KINDRED_WARNINGS})
  else()
    add_library(${target} INTERFACE)
    target_include_directories(${target} INTERFACE
      $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/engine/include>
      $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>)
    target_link_libraries(${target} INTERFACE ${K_PUBLIC_DEPS} ${K_DEPS})
  endif()
  add_library(kindred::${K_NAME} ALIAS ${target})
endfunction()

# kindred_cc_test(NAME name SRCS ... DEPS ...)
# One GoogleTest binary per component, registered with ctest.
function(kindred_cc_test)
  cmake_parse_arguments(K "" "NAME" "SRCS;DEPS" ${ARGN})
  set(target ${K_NAME}_test)
  add_executable(${target} ${K_SRCS})
  target_link_libraries(${target} PRIVATE ${K_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  target_compile_options(${target} PRIVATE ${KINDRED_WARNINGS})
  set_target_properties(${target} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
  gtest_discover_tests(${target}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    PROPERTIES ENVIRONMENT "KINDRED_SOURCE_DIR=${PROJECT_SOURCE_DIR};KINDRED_BINARY_DIR=${PROJECT_BINARY_DIR}"
    DISCOVERY_TIMEOUT 60)
endfunction()
