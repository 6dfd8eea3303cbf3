// Outbound TCP: resolve (unless an IP literal) and connect with a deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <string>

#include "net/asio.hpp"

namespace cmux::net {

// `reject_loopback`: a *name* whose resolved addresses are all loopback (127/8, ::1,
// ::ffff:127/104, unspecified) fails with access_denied, and loopback addresses are skipped
// otherwise. For the preview proxy's routed contexts: a page must not reach the user's own
// machine through a name that merely resolves to it (hosts file, DNS rebinding).
awaitable<std::expected<tcp::socket, error_code>> connect_tcp(const std::string& host, std::uint16_t port,
                                                              std::chrono::milliseconds timeout,
                                                              bool reject_loopback = false);

// "host:port" with IPv6 literals in brackets.
std::string format_authority(std::string_view host, std::uint16_t port);

}  // namespace cmux::net
