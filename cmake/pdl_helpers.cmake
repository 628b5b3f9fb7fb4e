# Helpers shared by every target (Abseil's absl_cc_* style, kept small).

# PDL_SANITIZE: sanitizers for every target defined after this file is included, e.g.
# -DPDL_SANITIZE=address,undefined (the CI's build-asan). Frame pointers kept for usable stacks.
set(PDL_SANITIZE "" CACHE STRING "Sanitizers for every target, e.g. address,undefined")
if(PDL_SANITIZE)
  add_compile_options(-fsanitize=${PDL_SANITIZE} -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${PDL_SANITIZE})
endif()
# PDL_FUZZ (clang only, see fuzz/CMakeLists.txt): libraries get libFuzzer's coverage hooks, and
# every sanitizer report aborts so the fuzzer records the input as a crash.
if(PDL_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "PDL_FUZZ needs clang (CXX=clang++-14), not ${CMAKE_CXX_COMPILER_ID}")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link -fno-sanitize-recover=all)
endif()
# Asio 1.74 enables co_await under clang only with <experimental/coroutine> (STYLE.md section 0).
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  add_compile_definitions(BOOST_ASIO_HAS_CO_AWAIT=1 BOOST_ASIO_HAS_STD_COROUTINE=1)
endif()

function(pdl_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  if(PDL_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# PDL_PCH: precompiled headers for the targets with many translation units. The heavy third-party
# headers (nlohmann/json, spdlog, the standard library; GoogleTest in tests) are parsed once per
# target instead of once per file: about a third of a clean build's compile time.
# Only in optimised builds: at -O0, fmt's headers wrap themselves in `#pragma GCC push_options` /
# `optimize("Og")`, and a GCC 12 precompiled header comes back with __OPTIMIZE__ still defined
# after the pop. simdjson, included later, then leaves out its debug-only member, so
# ondemand::parser had one size in data_update.cpp and another in rpc.cpp (ASan caught it as a
# stack-buffer-overflow in the parser's destructor). Sanitizer and fuzz builds go without too.
option(PDL_PCH "Precompile the common third-party headers per target" ON)
string(TOUPPER "${CMAKE_BUILD_TYPE}" pdl_build_type)
if(PDL_SANITIZE OR PDL_FUZZ OR NOT pdl_build_type MATCHES "^(RELEASE|RELWITHDEBINFO|MINSIZEREL)$")
  set(PDL_PCH OFF)
endif()
function(pdl_precompile_common_headers target)
  if(PDL_PCH)
    target_precompile_headers(${target} PRIVATE
      <algorithm> <chrono> <functional> <map> <memory> <optional> <string> <string_view>
      <thread> <utility> <variant> <vector> <nlohmann/json.hpp> <spdlog/spdlog.h>)
  endif()
endfunction()

# pdl_add_test(NAME name SRCS ... DEPS ... LABELS ... [TIMEOUT s])
# One gtest executable; its tests are discovered and registered with ctest.
function(pdl_add_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_executable(${T_NAME} ${T_SRCS})
  target_link_libraries(${T_NAME} PRIVATE ${T_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  pdl_set_warnings(${T_NAME})
  # Test code is compiled for speed of building, not of running: the code under test lives in
  # the libraries, which keep the build type's optimisation (a test file builds ~30% faster).
  target_compile_options(${T_NAME} PRIVATE $<$<NOT:$<CONFIG:Debug>>:-Og>)
  # Under -fsanitize=undefined only the code under test (the libraries, the fakes) is checked:
  # instrumenting GoogleTest's macros too makes a test file ~50% slower to build for nothing.
  if(PDL_SANITIZE MATCHES "undefined")
    target_compile_options(${T_NAME} PRIVATE -fno-sanitize=undefined)
  endif()
  pdl_precompile_common_headers(${T_NAME})
  if(PDL_PCH)
    target_precompile_headers(${T_NAME} PRIVATE <gtest/gtest.h> <gmock/gmock.h>)
  endif()
  gtest_discover_tests(${T_NAME} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    DISCOVERY_TIMEOUT 60)
endfunction()

# pdl_shared_component(name DEPS ... [EXCLUDE file.cpp ...]): static library pdl_<name> from
# shared/<name>/*.cpp, without the EXCLUDEd files (which another target builds).
function(pdl_shared_component name)
  cmake_parse_arguments(C "" "" "DEPS;EXCLUDE" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/shared/${name}/*.cpp)
  foreach(excluded ${C_EXCLUDE})
    list(REMOVE_ITEM srcs ${PROJECT_SOURCE_DIR}/shared/${name}/${excluded})
  endforeach()
  if(srcs)
    add_library(pdl_${name} STATIC ${srcs})
    target_include_directories(pdl_${name} PUBLIC ${PROJECT_SOURCE_DIR})
    target_link_libraries(pdl_${name} PUBLIC ${C_DEPS} Threads::Threads)
    pdl_set_warnings(pdl_${name})
    list(LENGTH srcs n)
    if(n GREATER 3)  # below that, building the header costs more than it saves
      pdl_precompile_common_headers(pdl_${name})
    endif()
  else()  # nothing written yet: headers only
    add_library(pdl_${name} INTERFACE)
    target_include_directories(pdl_${name} INTERFACE ${PROJECT_SOURCE_DIR})
    target_link_libraries(pdl_${name} INTERFACE ${C_DEPS} Threads::Threads)
  endif()
endfunction()
