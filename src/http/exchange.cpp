#include "http/exchange.hpp"

namespace cmux::http {

awaitable<void> respond_text(Exchange& ex, int status, std::string_view body, Fields extra) {
  ResponseHead head;
  head.status = status;
  head.fields = std::move(extra);
  head.fields.push_back({"content-type", "text/plain; charset=utf-8"});
  head.fields.push_back({"content-length", std::to_string(body.size())});
  head.content_length = body.size();
  if (body.empty()) {
    co_await ex.send_head(head, true);
    co_return;
  }
  co_await ex.send_head_and_body(head, body, true);
}

awaitable<error_code> Exchange::send_head_and_body(const ResponseHead& head, std::span<const char> body,
                                                   bool end_stream) {
  if (auto ec = co_await send_head(head, false)) co_return ec;
  if (auto ec = co_await send_body(body)) co_return ec;
  if (!end_stream) co_return error_code{};
  co_return co_await finish(kNoFields);
}

awaitable<RelayedBody> Exchange::splice_body(net::SplicePipe&, tcp::socket&, std::uint64_t) {
  co_return RelayedBody{{}, true};  // callers ask can_splice_body() first
}

awaitable<SplicedRequestBody> Exchange::splice_request_body(net::SplicePipe&, tcp::socket&) {
  co_return SplicedRequestBody{asio::error::operation_not_supported, {}};  // callers ask first
}

awaitable<void> Exchange::client_gone() {
  asio::steady_timer forever(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
  co_await forever.async_wait(use_nothrow);
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 421: return "Misdirected Request";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
  }
}

}  // namespace cmux::http
