// LD_PRELOAD workspace network shim (SPEC §2 "Workspace network shim").
//
// Loaded into processes that run inside a workspace so that several workspaces can run the same
// dev server on the same port: loopback/wildcard IPv4 traffic is moved to the workspace's own
// loopback address 127.18.x.y (see cmux::workspace::workspace_ip).
//
// Activation (evaluated once, at the first intercepted call, never in a constructor):
//   - CMUX_PRELOAD_DISABLE=1 (also true/yes/on)   -> inactive, every call passes through;
//   - CMUX_WORKSPACE_INTERNAL=<name>, non-empty   -> active with <name>;
//   - else basename(getcwd()) starts "workspace-" -> active with that basename;
//   - a name that does not map to an IP           -> inactive (logged when logging is on).
//   CMUX_PRELOAD_LOG=1 (also true/yes/on) writes one line per rewrite to stderr with write(2).
//
// Rewrites (everything else, including every other libc function, is untouched):
//   - bind(AF_INET, 0.0.0.0:P or 127.0.0.1:P)       -> bind(<workspace ip>:P)
//   - connect(AF_INET, 127.0.0.1:P)                 -> connect(<workspace ip>:P)
//   - getaddrinfo("localhost" | "127.0.0.1", ...)   -> getaddrinfo("<workspace ip>", ...) with
//     AI_NUMERICHOST added, for hints == NULL or ai_family AF_UNSPEC / AF_INET. The answer is
//     produced by the real getaddrinfo, so the real freeaddrinfo releases it (nothing of ours to
//     leak). "localhost" matches case-insensitively, with or without a trailing dot.
//
// Deliberately out of scope (spec-silent, kept minimal): AF_INET6 sockets, including IPv4-mapped
// ::ffff:127.0.0.1 and dual-stack "::" binds; other 127/8 addresses; sendto/sendmsg destinations;
// gethostbyname and friends; getaddrinfo with AF_INET6-only hints.
//
// errno: on pass-through the real function sets errno; on a rewrite the real function's result
// and errno are returned unchanged; lazy initialisation and logging save and restore errno.

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>

// The library is built with -fvisibility=hidden, but cmux_rules is a static archive compiled with
// default visibility. Declaring workspace_ip hidden here makes the linker mark it hidden in this
// shared object too (ELF takes the most restrictive visibility), so the only dynamic symbols we
// export are bind, connect and getaddrinfo and we never interpose on the host program's copy.
#pragma GCC visibility push(hidden)
#include "workspace/workspace_ip.hpp"
#pragma GCC visibility pop

#define CMUX_SHIM_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

using bind_fn = int (*)(int, const struct sockaddr*, socklen_t);
using connect_fn = int (*)(int, const struct sockaddr*, socklen_t);
using getaddrinfo_fn = int (*)(const char*, const char*, const struct addrinfo*,
                               struct addrinfo**);

struct State {
  bind_fn real_bind = nullptr;
  connect_fn real_connect = nullptr;
  getaddrinfo_fn real_getaddrinfo = nullptr;
  bool active = false;
  bool log = false;
  std::array<std::uint8_t, 4> ip{};  // workspace IP, network order of octets
  in_addr_t ip_be = 0;                // same, as s_addr (network byte order)
  char ip_text[INET_ADDRSTRLEN] = {};  // dotted quad, for getaddrinfo
};

State g_state;
pthread_once_t g_once = PTHREAD_ONCE_INIT;

bool env_true(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return false;
  std::string_view s(v);
  auto eq = [&](std::string_view lit) {
    if (s.size() != lit.size()) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
      char c = s[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != lit[i]) return false;
    }
    return true;
  };
  return eq("1") || eq("true") || eq("yes") || eq("on");
}

// --- allocation-free, lock-free formatting for the log lines ---------------------------------

struct LineBuf {
  char data[512];
  std::size_t len = 0;
  void put(std::string_view s) {
    std::size_t n = s.size() < sizeof(data) - len ? s.size() : sizeof(data) - len;
    std::memcpy(data + len, s.data(), n);
    len += n;
  }
  void put_uint(unsigned v) {
    char tmp[16];
    std::size_t n = 0;
    do {
      tmp[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    while (n > 0 && len < sizeof(data)) data[len++] = tmp[--n];
  }
  void put_ipv4(const std::uint8_t* octets) {
    for (int i = 0; i < 4; ++i) {
      if (i != 0) put(".");
      put_uint(octets[i]);
    }
  }
  void put_endpoint(const struct sockaddr_in& sin) {
    put_ipv4(reinterpret_cast<const std::uint8_t*>(&sin.sin_addr.s_addr));
    put(":");
    put_uint(ntohs(sin.sin_port));
  }
  void emit() {
    if (len == sizeof(data)) len = sizeof(data) - 1;
    data[len++] = '\n';
    int saved = errno;
    const char* p = data;
    std::size_t left = len;
    while (left > 0) {
      ssize_t w = ::write(STDERR_FILENO, p, left);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break;
      p += w;
      left -= static_cast<std::size_t>(w);
    }
    errno = saved;
  }
};

void init_once() {
  int saved = errno;
  State& s = g_state;
  s.real_bind = reinterpret_cast<bind_fn>(dlsym(RTLD_NEXT, "bind"));
  s.real_connect = reinterpret_cast<connect_fn>(dlsym(RTLD_NEXT, "connect"));
  s.real_getaddrinfo = reinterpret_cast<getaddrinfo_fn>(dlsym(RTLD_NEXT, "getaddrinfo"));
  s.log = env_true("CMUX_PRELOAD_LOG");

  if (!env_true("CMUX_PRELOAD_DISABLE")) {
    std::string_view name;
    char cwd[PATH_MAX + 1];
    const char* env_name = std::getenv("CMUX_WORKSPACE_INTERNAL");
    if (env_name != nullptr && env_name[0] != '\0') {
      name = env_name;
    } else if (::getcwd(cwd, sizeof(cwd)) != nullptr) {
      std::string_view path(cwd);
      std::size_t slash = path.rfind('/');
      std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
      if (base.starts_with("workspace-")) name = base;
    }
    if (!name.empty()) {
      if (auto ip = cmux::workspace::workspace_ip(name)) {
        s.ip = *ip;
        std::memcpy(&s.ip_be, s.ip.data(), 4);
        LineBuf text;
        text.put_ipv4(s.ip.data());
        std::memcpy(s.ip_text, text.data, text.len);
        s.ip_text[text.len] = '\0';
        s.active = true;
      } else if (s.log) {
        LineBuf line;
        line.put("cmux-preload: invalid workspace name '");
        line.put(name.substr(0, 256));
        line.put("', shim inactive");
        line.emit();
      }
    }
  }
  errno = saved;
}

const State& state() {
  pthread_once(&g_once, init_once);
  return g_state;
}

bool is_loopback_be(in_addr_t a) { return a == htonl(INADDR_LOOPBACK); }
bool is_any_be(in_addr_t a) { return a == htonl(INADDR_ANY); }

// Returns true and fills `out` when an AF_INET address should be moved to the workspace IP.
bool rewrite_sockaddr(const State& s, const struct sockaddr* addr, socklen_t len, bool allow_any,
                      struct sockaddr_in& out) {
  if (!s.active || addr == nullptr || len < static_cast<socklen_t>(sizeof(sockaddr_in))) {
    return false;
  }
  sa_family_t family;
  std::memcpy(&family, reinterpret_cast<const char*>(addr) + offsetof(sockaddr, sa_family),
              sizeof(family));
  if (family != AF_INET) return false;
  std::memcpy(&out, addr, sizeof(out));  // caller's pointer may be unaligned
  in_addr_t a = out.sin_addr.s_addr;
  if (!(is_loopback_be(a) || (allow_any && is_any_be(a)))) return false;
  out.sin_addr.s_addr = s.ip_be;
  return true;
}

void log_rewrite(std::string_view what, const struct sockaddr* from, const sockaddr_in& to) {
  sockaddr_in orig;
  std::memcpy(&orig, from, sizeof(orig));
  LineBuf line;
  line.put("cmux-preload: ");
  line.put(what);
  line.put(" ");
  line.put_endpoint(orig);
  line.put(" -> ");
  line.put_endpoint(to);
  line.emit();
}

bool ascii_iequals(const char* a, std::string_view b) {
  std::size_t i = 0;
  for (; i < b.size(); ++i) {
    char c = a[i];
    if (c == '\0') return false;
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != b[i]) return false;
  }
  return a[i] == '\0';
}

bool is_local_name(const char* node) {
  return node != nullptr && (ascii_iequals(node, "localhost") ||
                             ascii_iequals(node, "localhost.") ||
                             std::strcmp(node, "127.0.0.1") == 0);
}

}  // namespace

static_assert(sizeof(in_addr_t) == 4);

CMUX_SHIM_EXPORT int bind(int fd, const struct sockaddr* addr, socklen_t len) {
  const State& s = state();
  if (s.real_bind == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  sockaddr_in moved;
  if (!rewrite_sockaddr(s, addr, len, /*allow_any=*/true, moved)) return s.real_bind(fd, addr, len);
  if (s.log) log_rewrite("bind", addr, moved);
  return s.real_bind(fd, reinterpret_cast<const sockaddr*>(&moved), sizeof(moved));
}

CMUX_SHIM_EXPORT int connect(int fd, const struct sockaddr* addr, socklen_t len) {
  const State& s = state();
  if (s.real_connect == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  sockaddr_in moved;
  if (!rewrite_sockaddr(s, addr, len, /*allow_any=*/false, moved)) {
    return s.real_connect(fd, addr, len);
  }
  if (s.log) log_rewrite("connect", addr, moved);
  return s.real_connect(fd, reinterpret_cast<const sockaddr*>(&moved), sizeof(moved));
}

CMUX_SHIM_EXPORT int getaddrinfo(const char* node, const char* service,
                                 const struct addrinfo* hints, struct addrinfo** res) {
  const State& s = state();
  if (s.real_getaddrinfo == nullptr) {
    errno = ENOSYS;
    return EAI_SYSTEM;
  }
  const int family = hints == nullptr ? AF_UNSPEC : hints->ai_family;
  if (!s.active || !is_local_name(node) || (family != AF_UNSPEC && family != AF_INET)) {
    return s.real_getaddrinfo(node, service, hints, res);
  }
  struct addrinfo moved_hints;
  if (hints != nullptr) {
    moved_hints = *hints;
  } else {
    // getaddrinfo(3): hints == NULL means ai_flags = AI_V4MAPPED | AI_ADDRCONFIG (glibc).
    std::memset(&moved_hints, 0, sizeof(moved_hints));
    moved_hints.ai_family = AF_UNSPEC;
    moved_hints.ai_flags = AI_V4MAPPED | AI_ADDRCONFIG;
  }
  moved_hints.ai_flags |= AI_NUMERICHOST;
  if (s.log) {
    LineBuf line;
    line.put("cmux-preload: getaddrinfo ");
    line.put(std::string_view(node).substr(0, 64));
    line.put(" -> ");
    line.put(s.ip_text);
    line.emit();
  }
  return s.real_getaddrinfo(s.ip_text, service, &moved_hints, res);
}
