# nghttp2's library as a position-independent static library, from Debian's `nghttp2` source
# package (upstream + Debian's security patches), for the Node-API addon only.
#
# Why: Debian's libnghttp2.a is not PIC, and a .node that links libnghttp2.so runs inside Node,
# which exports its own (newer) nghttp2: most calls would silently bind to Node's copy. Compiled
# here with hidden visibility and NGHTTP2_STATICLIB (NGHTTP2_EXTERN expands to nothing), every
# nghttp2 symbol stays inside the .node.
#
# The source comes from scripts/fetch-nghttp2-source (run by scripts/bootstrap, and by the npm
# install script when missing); nothing is downloaded at configure or build time.
#
# Provides: target cmux_nghttp2_pic, CMUX_NGHTTP2_PIC_VERSION, CMUX_NGHTTP2_PIC_HAVE_* flags.

set(CMUX_NGHTTP2_SOURCE_DIR "${CMAKE_SOURCE_DIR}/third_party/nghttp2-src" CACHE PATH
  "Debian's nghttp2 source tree (apt-get source nghttp2), see scripts/fetch-nghttp2-source")

set(_ng_lib "${CMUX_NGHTTP2_SOURCE_DIR}/lib")
if(NOT EXISTS "${_ng_lib}/nghttp2_session.c" OR NOT EXISTS "${CMUX_NGHTTP2_SOURCE_DIR}/CMakeLists.txt")
  message(FATAL_ERROR
    "nghttp2 source not found in ${CMUX_NGHTTP2_SOURCE_DIR}.\n"
    "Run scripts/bootstrap (or scripts/fetch-nghttp2-source) to fetch Debian's nghttp2 source package.")
endif()

# Version from the source's own CMakeLists.txt: project(nghttp2 VERSION x.y.z)
file(STRINGS "${CMUX_NGHTTP2_SOURCE_DIR}/CMakeLists.txt" _ng_project REGEX "^project\\(nghttp2 VERSION [0-9.]+\\)")
string(REGEX MATCH "[0-9]+\\.[0-9]+\\.[0-9]+" CMUX_NGHTTP2_PIC_VERSION "${_ng_project}")
if(NOT CMUX_NGHTTP2_PIC_VERSION)
  message(FATAL_ERROR "cannot read nghttp2's version from ${CMUX_NGHTTP2_SOURCE_DIR}/CMakeLists.txt")
endif()
string(REPLACE "." ";" _ng_parts "${CMUX_NGHTTP2_PIC_VERSION}")
list(GET _ng_parts 0 _ng_major)
list(GET _ng_parts 1 _ng_minor)
list(GET _ng_parts 2 _ng_patch)
math(EXPR _ng_num "(${_ng_major} << 16) | (${_ng_minor} << 8) | ${_ng_patch}" OUTPUT_FORMAT HEXADECIMAL)

# nghttp2ver.h, as nghttp2's own build generates it (PACKAGE_VERSION, PACKAGE_VERSION_NUM).
set(PACKAGE_VERSION "${CMUX_NGHTTP2_PIC_VERSION}")
set(PACKAGE_VERSION_NUM "${_ng_num}")
set(_ng_gen "${CMAKE_BINARY_DIR}/nghttp2-pic/include")
configure_file("${_ng_lib}/includes/nghttp2/nghttp2ver.h.in" "${_ng_gen}/nghttp2/nghttp2ver.h" @ONLY)
unset(PACKAGE_VERSION)
unset(PACKAGE_VERSION_NUM)

file(GLOB _ng_sources CONFIGURE_DEPENDS "${_ng_lib}/*.c")
add_library(cmux_nghttp2_pic STATIC ${_ng_sources})
set_target_properties(cmux_nghttp2_pic PROPERTIES
  POSITION_INDEPENDENT_CODE ON
  C_VISIBILITY_PRESET hidden)
target_include_directories(cmux_nghttp2_pic PUBLIC "${_ng_gen}" "${_ng_lib}/includes")
# NGHTTP2_STATICLIB: NGHTTP2_EXTERN stays empty (no visibility("default")) for the library and
# for its users. The HAVE_* macros replace nghttp2's config.h (Linux/glibc).
target_compile_definitions(cmux_nghttp2_pic
  PUBLIC NGHTTP2_STATICLIB
  PRIVATE HAVE_ARPA_INET_H=1 HAVE_NETINET_IN_H=1 HAVE_TIME_H=1 HAVE_CLOCK_GETTIME=1)
# Third-party C: its warnings are not ours to fix. Drop the project's directory-wide -Werror and
# the C++-only -Wno-mismatched-new-delete (which cc1 rejects as an error under -Werror).
get_target_property(_ng_opts cmux_nghttp2_pic COMPILE_OPTIONS)
if(_ng_opts)
  list(REMOVE_ITEM _ng_opts -Werror -Wno-mismatched-new-delete)
  set_target_properties(cmux_nghttp2_pic PROPERTIES COMPILE_OPTIONS "${_ng_opts}")
endif()
target_compile_options(cmux_nghttp2_pic PRIVATE -w)

# Debian backports these into 1.52 without a version bump (ARCHITECTURE.md); probe the patched
# header of the tree we compile rather than the system's.
file(READ "${_ng_lib}/includes/nghttp2/nghttp2.h" _ng_header)
foreach(_sym IN ITEMS nghttp2_option_set_stream_reset_rate_limit nghttp2_option_set_max_continuations)
  string(TOUPPER "${_sym}" _var)
  string(REPLACE "NGHTTP2_OPTION_SET_" "" _var "${_var}")
  if(_ng_header MATCHES "${_sym}\\(")
    set(CMUX_NGHTTP2_PIC_HAVE_${_var} ON)
  else()
    set(CMUX_NGHTTP2_PIC_HAVE_${_var} OFF)
  endif()
endforeach()

set(_ng_debian_version "unknown")
if(EXISTS "${CMUX_NGHTTP2_SOURCE_DIR}/.cmux-source-version")
  file(STRINGS "${CMUX_NGHTTP2_SOURCE_DIR}/.cmux-source-version" _ng_debian_version LIMIT_COUNT 1)
endif()
message(STATUS "nghttp2 (PIC, addon): ${CMUX_NGHTTP2_PIC_VERSION} from Debian source ${_ng_debian_version}"
  " (reset rate limit: ${CMUX_NGHTTP2_PIC_HAVE_STREAM_RESET_RATE_LIMIT},"
  " max continuations: ${CMUX_NGHTTP2_PIC_HAVE_MAX_CONTINUATIONS})")
