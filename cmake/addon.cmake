# The Node-API addon (SPEC §4): build/lib/cmux_proxy.node, loaded by js/index.js.
#
# The .node must be self-contained inside Node and Electron, which export their own OpenSSL /
# nghttp2 (or carry BoringSSL): everything is linked statically and nothing but the Node-API
# entry points is exported.
#   - cmuxproxy_addon: the sources of `cmuxproxy` (CMUX_CORE_SOURCES) compiled a second time with
#     -fvisibility=hidden -fvisibility-inlines-hidden, spdlog/fmt header-only (Debian ships them
#     as shared libraries), against nghttp2 built from source (cmake/nghttp2_pic.cmake).
#   - OpenSSL from Debian's libssl.a/libcrypto.a; -Wl,--exclude-libs,ALL makes their symbols
#     local, and a version script exports only napi_register_module_v1 (+ the API-version query).
#   - scripts/check-addon-symbols (ctest addon.symbols) checks the result with nm -D and ldd.
#
# Node-API headers come from npm (node-api-headers, node-addon-api; `npm ci` in scripts/bootstrap,
# or CMAKE_JS_INC when cmake-js drives the build): no Node headers are downloaded.

# A sanitized .node cannot be loaded into an uninstrumented node, so the sanitizer presets skip it.
if(CMUX_SANITIZE)
  set(_cmux_addon_default OFF)
else()
  set(_cmux_addon_default ON)
endif()
option(CMUX_BUILD_ADDON "Build the Node-API addon (build/lib/cmux_proxy.node)" ${_cmux_addon_default})
if(NOT CMUX_BUILD_ADDON)
  message(STATUS "Node-API addon: off (CMUX_BUILD_ADDON=OFF)")
  return()
endif()

include(${CMAKE_CURRENT_LIST_DIR}/nghttp2_pic.cmake)

# --- Node-API headers -------------------------------------------------------------------------
# cmake-js passes CMAKE_JS_INC (node-api-headers + node-addon-api, resolved by require()).
# Otherwise ask node, from the package root, so npm's hoisting is resolved the same way.
if(CMAKE_JS_INC)
  set(CMUX_NODE_API_INCLUDE_DIRS ${CMAKE_JS_INC})
else()
  find_program(CMUX_NODE_EXECUTABLE NAMES node nodejs REQUIRED)
  execute_process(
    COMMAND ${CMUX_NODE_EXECUTABLE} -p
      "[require('node-api-headers').include_dir, require('node-addon-api').include_dir].join(';')"
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
    OUTPUT_VARIABLE CMUX_NODE_API_INCLUDE_DIRS
    OUTPUT_STRIP_TRAILING_WHITESPACE
    ERROR_VARIABLE _napi_err
    RESULT_VARIABLE _napi_rc)
  if(NOT _napi_rc EQUAL 0)
    message(FATAL_ERROR "node-api-headers / node-addon-api not found (run scripts/bootstrap, which "
      "runs `npm ci --ignore-scripts` at the repository root):\n${_napi_err}")
  endif()
endif()
foreach(_dir IN LISTS CMUX_NODE_API_INCLUDE_DIRS)
  string(REPLACE "\"" "" _dir "${_dir}")
  list(APPEND _napi_dirs "${_dir}")
endforeach()
find_path(CMUX_NODE_API_H node_api.h PATHS ${_napi_dirs} NO_DEFAULT_PATH NO_CACHE)
find_path(CMUX_NAPI_H napi.h PATHS ${_napi_dirs} NO_DEFAULT_PATH NO_CACHE)
if(NOT CMUX_NODE_API_H OR NOT CMUX_NAPI_H)
  message(FATAL_ERROR "node_api.h / napi.h not found in: ${_napi_dirs}")
endif()
add_library(cmux_node_api INTERFACE)
target_include_directories(cmux_node_api SYSTEM INTERFACE ${_napi_dirs})
# Node-API 8: loads in Node >= 18 (12.22+) and Electron >= 28. The binding code returns
# std::expected values across the boundary, so node-addon-api runs without C++ exceptions.
target_compile_definitions(cmux_node_api INTERFACE
  NAPI_VERSION=8 NODE_ADDON_API_DISABLE_DEPRECATED NAPI_DISABLE_CPP_EXCEPTIONS
  # An event delivered while the environment shuts down must not turn into a fatal error.
  NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS)

# --- OpenSSL, static (Debian's libssl-dev ships libssl.a / libcrypto.a) -------------------------
find_library(CMUX_LIBSSL_STATIC NAMES libssl.a REQUIRED)
find_library(CMUX_LIBCRYPTO_STATIC NAMES libcrypto.a REQUIRED)
add_library(cmux_openssl_static INTERFACE)
target_include_directories(cmux_openssl_static INTERFACE ${OPENSSL_INCLUDE_DIR})
target_link_libraries(cmux_openssl_static INTERFACE
  ${CMUX_LIBSSL_STATIC} ${CMUX_LIBCRYPTO_STATIC} Threads::Threads ${CMAKE_DL_LIBS})

# --- spdlog + fmt, header-only --------------------------------------------------------------------
# Not spdlog::spdlog_header_only: Debian's export links it to the shared fmt::fmt.
get_target_property(_spdlog_inc spdlog::spdlog INTERFACE_INCLUDE_DIRECTORIES)
add_library(cmux_spdlog_header_only INTERFACE)
target_include_directories(cmux_spdlog_header_only SYSTEM INTERFACE ${_spdlog_inc})
target_compile_definitions(cmux_spdlog_header_only INTERFACE SPDLOG_FMT_EXTERNAL FMT_HEADER_ONLY=1)
target_link_libraries(cmux_spdlog_header_only INTERFACE Threads::Threads)

# --- the core library, second compile --------------------------------------------------------------
add_library(cmuxproxy_addon STATIC ${CMUX_CORE_SOURCES} ${CMAKE_SOURCE_DIR}/src/workspace/workspace_ip.cpp)
set_target_properties(cmuxproxy_addon PROPERTIES
  POSITION_INDEPENDENT_CODE ON
  CXX_VISIBILITY_PRESET hidden
  C_VISIBILITY_PRESET hidden
  VISIBILITY_INLINES_HIDDEN ON)
target_include_directories(cmuxproxy_addon PUBLIC ${CMAKE_SOURCE_DIR}/src)
# This second compile is the addon's main build cost: -g1 (line tables, enough for backtraces)
# instead of RelWithDebInfo's full -g takes ~25% off it and more than half off the .node's size.
target_compile_options(cmuxproxy_addon PRIVATE $<$<CONFIG:RelWithDebInfo>:-g1>)
target_compile_definitions(cmuxproxy_addon PUBLIC
  BOOST_ASIO_NO_DEPRECATED BOOST_BEAST_USE_STD_STRING_VIEW BOOST_ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE=4
  CMUX_VERSION="${PROJECT_VERSION}"
  $<$<BOOL:${CMUX_NGHTTP2_PIC_HAVE_STREAM_RESET_RATE_LIMIT}>:CMUX_HAVE_NGHTTP2_RESET_RATE_LIMIT=1>
  $<$<BOOL:${CMUX_NGHTTP2_PIC_HAVE_MAX_CONTINUATIONS}>:CMUX_HAVE_NGHTTP2_MAX_CONTINUATIONS=1>)
target_link_libraries(cmuxproxy_addon PUBLIC
  Boost::headers cmux_nghttp2_pic cmux_openssl_static cmux_spdlog_header_only Threads::Threads)

# --- the .node ---------------------------------------------------------------------------------------
file(GLOB CMUX_ADDON_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/node/*.cpp)
add_library(cmux_proxy_addon MODULE ${CMUX_ADDON_SOURCES})
set_target_properties(cmux_proxy_addon PROPERTIES
  OUTPUT_NAME cmux_proxy PREFIX "" SUFFIX ".node"
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib
  POSITION_INDEPENDENT_CODE ON
  CXX_VISIBILITY_PRESET hidden
  VISIBILITY_INLINES_HIDDEN ON
  LINK_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/addon.map)
target_link_libraries(cmux_proxy_addon PRIVATE cmuxproxy_addon cmux_node_api)
# --exclude-libs,ALL: symbols from the static archives (OpenSSL, nghttp2, ours) become local.
# The version script is the last word on what is exported: std:: template instantiations keep
# default visibility even under -fvisibility=hidden.
target_link_options(cmux_proxy_addon PRIVATE
  -Wl,--exclude-libs,ALL
  -Wl,--version-script=${CMAKE_CURRENT_LIST_DIR}/addon.map
  -Wl,--as-needed
  -Wl,-z,noexecstack)

# Builds driven by cmake-js (`npm install` of the package) run on the consumer's compiler and
# in Release (-O3): a new warning there must not fail their install (GCC 12's -O3 -Wrestrict
# false positives in std::string, for one). Development builds (presets) keep -Werror.
if(CMAKE_JS_VERSION)
  target_compile_options(cmuxproxy_addon PRIVATE -Wno-error)
  target_compile_options(cmux_proxy_addon PRIVATE -Wno-error)
endif()

if(CMUX_BUILD_TESTS)
  enable_testing()
  add_test(NAME addon.symbols
    COMMAND ${CMAKE_SOURCE_DIR}/scripts/check-addon-symbols $<TARGET_FILE:cmux_proxy_addon>)
  set_tests_properties(addon.symbols PROPERTIES LABELS addon TIMEOUT 60)
endif()

message(STATUS "Node-API addon: ${CMAKE_BINARY_DIR}/lib/cmux_proxy.node (Node-API 8)")
