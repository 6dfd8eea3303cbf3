// http::H1Parser: Boost.Beast's HTTP/1.1 parser without its field container. Shared by the
// server and client sides of the HTTP/1.1 codec (h1_beast.hpp) and the h1_head fuzz target.
#pragma once

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/system/error_code.hpp>
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "http/message.hpp"

namespace cmux::http {

namespace bhttp = boost::beast::http;

// Beast's HTTP/1.1 parser (framing, validation, chunked decoding) without its field
// container, which groups repeated names together (a proxy must keep the wire order) and costs
// an allocation per field. Kept here: the start line, the head's fields and the trailers in wire
// order (names lower-cased, values without surrounding whitespace), and where the body goes.
template <bool isRequest>
class H1Parser final : public bhttp::basic_parser<isRequest> {
 public:
  std::string_view method() const { return method_; }  // requests
  std::string_view target() const { return target_; }  // requests
  int status() const { return status_; }                // responses
  unsigned version() const { return version_; }         // 10 or 11
  // The head's fields, moved out once the header is done. `n` = HeadScan::fields reserves them.
  void expect_fields(std::size_t n) { fields_.reserve(n); }
  Fields take_fields() { return std::move(fields_); }
  const Fields& trailers() const { return trailers_; }
  // Decoded body bytes go to `out` until it is full (then put() stops with need_buffer).
  void body_to(std::span<char> out) { body_ = out; }
  std::size_t body_room() const { return body_.size(); }

 private:
  void on_request_impl(bhttp::verb, boost::beast::string_view method, boost::beast::string_view target, int version,
                       boost::system::error_code&) override {
    method_.assign(method.data(), method.size());
    target_.assign(target.data(), target.size());
    version_ = static_cast<unsigned>(version);
  }
  void on_response_impl(int status, boost::beast::string_view, int version, boost::system::error_code&) override {
    status_ = status;
    version_ = static_cast<unsigned>(version);
  }
  void on_field_impl(bhttp::field, boost::beast::string_view name, boost::beast::string_view value,
                     boost::system::error_code&) override {
    (header_done_ ? trailers_ : fields_).push_back({to_lower({name.data(), name.size()}), std::string(value.data(), value.size())});
  }
  void on_header_impl(boost::system::error_code&) override { header_done_ = true; }
  void on_body_init_impl(const boost::optional<std::uint64_t>&, boost::system::error_code&) override {}
  std::size_t on_body_impl(boost::beast::string_view body, boost::system::error_code& ec) override { return take(body, ec); }
  void on_chunk_header_impl(std::uint64_t, boost::beast::string_view, boost::system::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view body, boost::system::error_code& ec) override {
    return take(body, ec);
  }
  void on_finish_impl(boost::system::error_code&) override {}

  std::size_t take(boost::beast::string_view body, boost::system::error_code& ec) {
    std::size_t n = std::min(body.size(), body_.size());
    if (n) std::memcpy(body_.data(), body.data(), n);
    body_ = body_.subspan(n);
    if (n < body.size()) ec = bhttp::error::need_buffer;
    return n;
  }

  std::string method_;
  std::string target_;
  int status_ = 0;
  unsigned version_ = 11;
  bool header_done_ = false;
  Fields fields_;
  Fields trailers_;
  std::span<char> body_;
};
using H1RequestParser = H1Parser<true>;
using H1ResponseParser = H1Parser<false>;

}  // namespace cmux::http
