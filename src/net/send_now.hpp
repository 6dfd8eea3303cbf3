// Writes that do not wait when they need not. A socket almost always takes a response or a
// request head whole; sending it here, in the caller's own frame, costs one system call, where
// an asynchronous write that completes at once still hands its completion to the event loop (a
// posted handler, a turn of the loop, often an extra epoll_wait, then a resumption).
//   error_code ec;
//   auto rest = net::send_now(socket, bufs, ec);
//   if (!ec && !rest.empty()) std::tie(ec, std::ignore) = co_await asio::async_write(socket, rest, use_nothrow);
#pragma once

#include <expected>
#include <span>

#include "net/asio.hpp"

namespace cmux::net {

// Sends what `socket` takes now: the bytes sent (0 when its send buffer is full). Must not
// overlap an asynchronous write on it.
std::expected<std::size_t, error_code> send_some_now(tcp::socket& socket, std::span<const asio::const_buffer> bufs);

// `bufs` without their first `n` bytes (cut down in place).
std::span<asio::const_buffer> drop_front(std::span<asio::const_buffer> bufs, std::size_t n);

// send_some_now(), then `bufs` cut down (in place) to what is left for an asynchronous write:
// empty when all went out, or on an error (`ec`).
std::span<asio::const_buffer> send_now(tcp::socket& socket, std::span<asio::const_buffer> bufs, error_code& ec);

}  // namespace cmux::net
