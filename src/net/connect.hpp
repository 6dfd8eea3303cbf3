// Outbound TCP: resolve (unless an IP literal) and connect with a deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <string>

#include "net/asio.hpp"

namespace cmux::net {

awaitable<std::expected<tcp::socket, error_code>> connect_tcp(const std::string& host, std::uint16_t port,
                                                              std::chrono::milliseconds timeout);

// "host:port" with IPv6 literals in brackets.
std::string format_authority(std::string_view host, std::uint16_t port);

}  // namespace cmux::net
