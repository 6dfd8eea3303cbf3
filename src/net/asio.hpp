// Common Asio/coroutine aliases for the whole codebase.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl.hpp>

namespace cmux {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using boost::system::error_code;
template <typename T = void>
using awaitable = boost::asio::awaitable<T>;

// Completion token for coroutines that return errors as values: `auto [ec, n] = co_await
// sock.async_read_some(buf, use_nothrow);` — exceptions never carry I/O errors. Deferred, not
// use_awaitable: the awaiting coroutine runs the operation itself, where use_awaitable wraps
// every operation in a coroutine frame of its own (an allocation per read or write).
inline constexpr auto use_nothrow = asio::as_tuple(asio::deferred);
// The same as an awaitable, for the awaitable operators (`a || b`) and co_spawn.
inline constexpr auto use_nothrow_awaitable = asio::as_tuple(asio::use_awaitable);

// An operation for `co_await`, like one started with use_nothrow, whose cancellation comes from
// `slot` instead of the awaiting coroutine's: `start(handler)` starts it. Boost 1.81 cannot
// bind a slot to a deferred token, and bound to use_awaitable every operation costs a frame.
//   auto [ec, n] = co_await with_slot<void(error_code, std::size_t)>(slot, [&](auto h) {
//     socket.async_read_some(buf, std::move(h));
//   });
template <typename Signature, typename Start>
auto with_slot(asio::cancellation_slot slot, Start start) {
  return asio::async_initiate<decltype(use_nothrow), Signature>(
      [slot](auto handler, Start start) mutable { start(asio::bind_cancellation_slot(slot, std::move(handler))); },
      use_nothrow, std::move(start));
}

}  // namespace cmux
