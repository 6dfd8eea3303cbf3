// Strict HTTP/1.1 head rules (SPEC §6, RFC 9112) on top of Boost.Beast's parser, which is
// permissive where a proxy must not be (obs-fold, `chunked, gzip`, `Content-Length: 5, 5`).
// Pure functions: raw head scanning before Beast parses, framing checks after.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "http/message.hpp"

namespace cmux::http {

struct HeadLimits {
  std::size_t max_start_line = 8 * 1024;   // request line (→ 414)
  std::size_t max_head_bytes = 64 * 1024;  // whole header block (→ 431)
  std::size_t max_fields = 100;            // (→ 431)
};

enum class HeadError {
  bad_request,       // malformed / ambiguous → 400 (502 on the response side)
  uri_too_long,      // → 414
  fields_too_large,  // → 431
};

int head_error_status(HeadError e);
std::string_view head_error_text(HeadError e);

struct HeadScan {
  std::size_t skipped = 0;   // leading empty lines ignored before the start line (RFC 9112 §2.2)
  std::size_t length = 0;    // bytes of the head after `skipped`, including the final CRLFCRLF; 0 = need more
  std::size_t fields = 0;    // field lines in a complete head
};

// Scans `buf` for a complete head. Rejects bare LF, lone CR, obs-fold, NUL/CR in fields,
// and oversized heads, before any byte is interpreted.
std::expected<HeadScan, HeadError> scan_head(std::string_view buf, const HeadLimits& limits);

struct Framing {
  bool chunked = false;
  std::optional<std::uint64_t> content_length;
};

// Transfer-Encoding / Content-Length rules: final coding exactly `chunked`; never both;
// exactly one Content-Length field holding one decimal value.
std::expected<Framing, HeadError> check_framing(const Fields& fields);

// Appends "name: value\r\n" with one size check (heads are built field by field on every request).
void append_field_line(std::string& out, const Field& field);

// Chunked framing, shared by server responses and upstream requests.
std::size_t format_chunk_size(char (&buf)[24], std::size_t size);  // "<hex>\r\n"; returns its length
std::string last_chunk(const Fields& trailers);                     // "0\r\n" + trailers + "\r\n"

// Connection header contains `token` (case-insensitive, comma list over all fields).
bool connection_has(const Fields& fields, std::string_view token);

}  // namespace cmux::http
