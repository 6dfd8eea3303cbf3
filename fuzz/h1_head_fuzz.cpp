// libFuzzer target: strict HTTP/1.1 head rules (SPEC §6): scan_head, then the fields as the
// codecs take them from Beast's parser (http::H1Parser), check_framing, connection_has. Input:
// the raw bytes a peer sends.
// Checks that an accepted head is well-formed CRLF text within the limits, that feeding it in
// pieces gives the same answer, that tighter limits never accept more, and that the framing
// verdict is consistent with the fields it was given.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "http/h1_head.hpp"
#include "http/h1_parser.hpp"
#include "http/message.hpp"

namespace {

using cmux::http::HeadLimits;
using cmux::http::HeadScan;

constexpr HeadLimits kDefault{};
constexpr HeadLimits kTiny{.max_start_line = 24, .max_head_bytes = 96, .max_fields = 4};

bool same(const HeadScan& a, const HeadScan& b) {
  return a.skipped == b.skipped && a.length == b.length;
}

// Every CR is followed by LF and every LF preceded by CR; no NUL; ends with an empty line.
void check_head_text(std::string_view head) {
  if (!head.ends_with("\r\n\r\n")) __builtin_trap();
  for (std::size_t i = 0; i < head.size(); ++i) {
    const char c = head[i];
    if (c == '\0') __builtin_trap();
    if (c == '\r' && (i + 1 == head.size() || head[i + 1] != '\n')) __builtin_trap();
    if (c == '\n' && (i == 0 || head[i - 1] != '\r')) __builtin_trap();
  }
  // The first empty line is the end: nothing is hidden behind it.
  if (head.find("\r\n\r\n") + 4 != head.size()) __builtin_trap();
  // Start-line syntax is Beast's job; scan_head only guarantees there is one.
  if (head.starts_with("\r\n")) __builtin_trap();
  // obs-fold
  if (head.contains("\r\n ") || head.contains("\r\n\t")) __builtin_trap();
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

// The head's fields as the codecs get them: a request head, else a response head; nullopt when
// Beast refuses both (start-line or field syntax).
template <bool isRequest>
std::optional<cmux::http::Fields> parse_fields(std::string_view head, std::size_t expected) {
  cmux::http::H1Parser<isRequest> parser;
  parser.eager(true);
  parser.expect_fields(expected);
  parser.header_limit(static_cast<std::uint32_t>(head.size() + 1));
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(head.data(), head.size()), ec);
  if ((ec && ec != cmux::http::bhttp::error::need_more) || !parser.is_header_done()) return std::nullopt;
  return parser.take_fields();
}

void check_fields(std::string_view head, std::size_t count, const HeadLimits& limits) {
  auto parsed = parse_fields<true>(head, count);
  if (!parsed) parsed = parse_fields<false>(head, count);
  if (!parsed) return;
  const cmux::http::Fields& fields = *parsed;
  if (fields.size() != count) __builtin_trap();  // scan_head counted the same field lines
  if (fields.size() > limits.max_fields) __builtin_trap();
  std::size_t te = 0, cl = 0;
  bool connection_close = false;
  for (const auto& f : fields) {
    for (char c : f.name) {
      if (c == ':' || (c >= 'A' && c <= 'Z') || c == '\r' || c == '\n' || c == '\0')
        __builtin_trap();
    }
    for (char c : f.value) {
      if (c == '\r' || c == '\n' || c == '\0') __builtin_trap();
    }
    if (!f.value.empty() && (is_ows(f.value.front()) || is_ows(f.value.back()))) __builtin_trap();
    te += f.name == "transfer-encoding";
    cl += f.name == "content-length";
    if (f.name == "connection" && cmux::http::iequals(f.value, "close")) connection_close = true;
  }
  if (connection_close && !cmux::http::connection_has(fields, "close")) __builtin_trap();
  if (!cmux::http::connection_has(fields, "close") &&
      cmux::http::connection_has(fields, "CLOSE"))
    __builtin_trap();

  const auto framing = cmux::http::check_framing(fields);
  if (!framing) {
    if (framing.error() != cmux::http::HeadError::bad_request) __builtin_trap();
    return;
  }
  if (te > 0 && cl > 0) __builtin_trap();  // never both
  if (cl > 1) __builtin_trap();
  if (framing->chunked != (te > 0)) __builtin_trap();
  if (framing->chunked && framing->content_length) __builtin_trap();
  if (framing->content_length.has_value() != (cl == 1)) __builtin_trap();
}

// Returns the accepted head, or an empty view.
std::string_view check_scan(std::string_view input, const HeadLimits& limits) {
  const auto r = cmux::http::scan_head(input, limits);
  if (!r) return {};
  if (r->skipped % 2 != 0 || r->skipped > 8) __builtin_trap();
  if (r->skipped + r->length > input.size()) __builtin_trap();
  if (r->length == 0) return {};
  if (r->length > limits.max_start_line + 2 + limits.max_head_bytes) __builtin_trap();
  const std::string_view head = input.substr(r->skipped, r->length);
  check_head_text(head);

  // Incremental: the head alone gives the same answer; one byte less is still undecided.
  const std::string_view exact = input.substr(0, r->skipped + r->length);
  const auto alone = cmux::http::scan_head(exact, limits);
  if (!alone || !same(*alone, *r)) __builtin_trap();
  const auto shorter = cmux::http::scan_head(exact.substr(0, exact.size() - 1), limits);
  if (!shorter || shorter->length != 0) __builtin_trap();

  check_fields(head, r->fields, limits);
  return head;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto loose = cmux::http::scan_head(input, kDefault);
  check_scan(input, kDefault);
  // Tighter limits never accept more, and agree when they accept.
  const auto tight = cmux::http::scan_head(input, kTiny);
  check_scan(input, kTiny);
  if (tight && tight->length != 0 && !(loose && same(*loose, *tight))) __builtin_trap();
  return 0;
}
