#include "net/connect.hpp"

namespace cmux::net {

std::string format_authority(std::string_view host, std::uint16_t port) {
  std::string out;
  bool v6 = host.find(':') != std::string_view::npos;
  if (v6) out += '[';
  out += host;
  if (v6) out += ']';
  out += ':';
  out += std::to_string(port);
  return out;
}

namespace {
bool is_loopback_address(const asio::ip::address& a) {
  if (a.is_unspecified() || a.is_loopback()) return true;
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    auto v4 = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
    return v4.is_loopback() || v4.is_unspecified();
  }
  return false;
}
}  // namespace

awaitable<std::expected<tcp::socket, error_code>> connect_tcp(const std::string& host, std::uint16_t port,
                                                              std::chrono::milliseconds timeout,
                                                              bool reject_loopback) {
  using namespace asio::experimental::awaitable_operators;
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  timer.expires_after(timeout);

  std::vector<tcp::endpoint> endpoints;
  error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (!ec) {
    endpoints.emplace_back(addr, port);
  } else {
    tcp::resolver resolver(ex);
    auto result = co_await (resolver.async_resolve(host, std::to_string(port), use_nothrow_awaitable) ||
                            timer.async_wait(use_nothrow_awaitable));
    if (result.index() == 1) co_return std::unexpected(asio::error::timed_out);
    auto [rec, results] = std::get<0>(result);
    if (rec) co_return std::unexpected(rec);
    for (const auto& r : results)
      if (!reject_loopback || !is_loopback_address(r.endpoint().address())) endpoints.push_back(r.endpoint());
    if (endpoints.empty()) co_return std::unexpected(asio::error::access_denied);
  }

  tcp::socket socket(ex);
  error_code last = asio::error::host_not_found;
  for (const auto& ep : endpoints) {
    error_code oec;
    if (socket.is_open()) socket.close(oec);
    socket.open(ep.protocol(), oec);
    if (oec) {
      last = oec;
      continue;
    }
    auto result = co_await (socket.async_connect(ep, use_nothrow_awaitable) || timer.async_wait(use_nothrow_awaitable));
    if (result.index() == 1) co_return std::unexpected(asio::error::timed_out);
    auto [cec] = std::get<0>(result);
    if (!cec) {
      last = {};
      break;
    }
    last = cec;
  }
  if (last) co_return std::unexpected(last);
  error_code cec;
  socket.set_option(tcp::no_delay(true), cec);
  co_return std::move(socket);
}

}  // namespace cmux::net
