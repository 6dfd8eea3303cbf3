// libFuzzer target: workspace_ip (SPEC §2 "Workspace IP"). Input: the workspace name.
// Checks the result's shape, the rule's symmetries, and (under ASan) that the shim-safe
// function never allocates: an allocator hook traps while it runs.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "workspace/workspace_ip.hpp"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/allocator_interface.h>
#define CMUX_FUZZ_HOOK_ALLOCATOR 1
#endif
#endif

namespace {

bool g_forbid_allocation = false;

#ifdef CMUX_FUZZ_HOOK_ALLOCATOR
// Sees malloc and operator new alike (replacing operator new would fight ASan's own).
void trap_on_forbidden_allocation(const volatile void*, std::size_t) {
  if (g_forbid_allocation) __builtin_trap();
}
void ignore_free(const volatile void*) {}
#endif

auto workspace_ip_without_allocation(std::string_view name) {
  g_forbid_allocation = true;
  const auto ip = cmux::workspace::workspace_ip(name);
  g_forbid_allocation = false;
  return ip;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
#ifdef CMUX_FUZZ_HOOK_ALLOCATOR
  __sanitizer_install_malloc_and_free_hooks(trap_on_forbidden_allocation, ignore_free);
#endif
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view name(reinterpret_cast<const char*>(data), size);
  const auto ip = workspace_ip_without_allocation(name);
  if (ip && ((*ip)[0] != 127 || (*ip)[1] != 18)) __builtin_trap();
  if (name.empty() && ip) __builtin_trap();

  // Case never matters; neither do leading path components.
  if (workspace_ip_without_allocation(ascii_lower(name)) != ip) __builtin_trap();
  if (workspace_ip_without_allocation("some/dir/" + std::string(name)) != ip) __builtin_trap();
  return 0;
}
