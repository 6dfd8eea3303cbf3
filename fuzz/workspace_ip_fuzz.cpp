// libFuzzer target: workspace_ip (SPEC §2 "Workspace IP"). Input: the workspace name.
// Checks the result's shape, the rule's symmetries, and that the shim-safe function never
// allocates (operator new traps while it runs).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>

#include "workspace/workspace_ip.hpp"

namespace {

bool g_forbid_allocation = false;

void* checked_allocate(std::size_t size) {
  if (g_forbid_allocation) __builtin_trap();
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}

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

void* operator new(std::size_t size) { return checked_allocate(size); }
void* operator new[](std::size_t size) { return checked_allocate(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

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
