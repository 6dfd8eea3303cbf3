#include "http/h1_head.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace cmux::http {

int head_error_status(HeadError e) {
  switch (e) {
    case HeadError::uri_too_long: return 414;
    case HeadError::fields_too_large: return 431;
    case HeadError::bad_request: break;
  }
  return 400;
}

std::string_view head_error_text(HeadError e) {
  switch (e) {
    case HeadError::uri_too_long: return "URI Too Long";
    case HeadError::fields_too_large: return "Request Header Fields Too Large";
    case HeadError::bad_request: break;
  }
  return "Bad Request";
}

namespace {

// memchr, not a loop over the bytes: heads are scanned on every request and response.
bool has_nul(std::string_view s) { return std::memchr(s.data(), '\0', s.size()) != nullptr; }

}  // namespace

std::expected<HeadScan, HeadError> scan_head(std::string_view buf, const HeadLimits& limits) {
  HeadScan scan;
  while (buf.size() >= scan.skipped + 2 && buf[scan.skipped] == '\r' && buf[scan.skipped + 1] == '\n')
    scan.skipped += 2;
  if (scan.skipped > 8) return std::unexpected(HeadError::bad_request);
  std::string_view head = buf.substr(scan.skipped);

  std::size_t pos = 0;
  std::size_t fields = 0;
  std::size_t fields_start = 0;
  bool start_line = true;
  while (true) {
    std::size_t line_end = head.find('\n', pos);
    std::size_t line_limit = start_line ? limits.max_start_line : limits.max_head_bytes;
    if (line_end == std::string_view::npos) {
      // Incomplete: still check what we have, so oversized input fails early.
      std::string_view partial = head.substr(pos);
      if (partial.size() > line_limit + 2)
        return std::unexpected(start_line ? HeadError::uri_too_long : HeadError::fields_too_large);
      if (!start_line && head.size() - fields_start > limits.max_head_bytes)
        return std::unexpected(HeadError::fields_too_large);
      if (has_nul(partial)) return std::unexpected(HeadError::bad_request);
      std::size_t cr = partial.find('\r');
      if (cr != std::string_view::npos && cr + 1 < partial.size()) return std::unexpected(HeadError::bad_request);
      return scan;  // need more
    }
    if (line_end == pos || head[line_end - 1] != '\r') return std::unexpected(HeadError::bad_request);  // bare LF
    std::string_view line = head.substr(pos, line_end - 1 - pos);
    if (line.size() > line_limit)
      return std::unexpected(start_line ? HeadError::uri_too_long : HeadError::fields_too_large);
    if (line.find('\r') != std::string_view::npos || has_nul(line)) return std::unexpected(HeadError::bad_request);
    pos = line_end + 1;
    if (start_line) {
      if (line.empty()) return std::unexpected(HeadError::bad_request);
      start_line = false;
      fields_start = pos;
      continue;
    }
    if (pos - fields_start > limits.max_head_bytes) return std::unexpected(HeadError::fields_too_large);
    if (line.empty()) {
      scan.length = pos;
      scan.fields = fields;
      return scan;
    }
    if (line.front() == ' ' || line.front() == '\t') return std::unexpected(HeadError::bad_request);  // obs-fold
    if (++fields > limits.max_fields) return std::unexpected(HeadError::fields_too_large);
  }
}

namespace {

bool parse_decimal(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

// Last element of a comma-separated list, trimmed.
std::string_view last_list_item(std::string_view v) {
  auto comma = v.rfind(',');
  return trim(comma == std::string_view::npos ? v : v.substr(comma + 1));
}

}  // namespace

std::expected<Framing, HeadError> check_framing(const Fields& fields) {
  Framing framing;
  std::size_t te_count = 0;
  std::size_t cl_count = 0;
  std::string_view last_te;
  std::size_t chunked_seen = 0;
  for (const auto& f : fields) {
    if (f.name == "transfer-encoding") {
      ++te_count;
      std::string_view v = f.value;
      // every coding token; `chunked` may appear only once, as the final coding
      std::size_t start = 0;
      while (start <= v.size()) {
        std::size_t comma = v.find(',', start);
        std::string_view item = trim(v.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
        if (item.empty()) return std::unexpected(HeadError::bad_request);
        if (iequals(item, "chunked")) ++chunked_seen;
        if (comma == std::string_view::npos) break;
        start = comma + 1;
      }
      last_te = last_list_item(v);
    } else if (f.name == "content-length") {
      ++cl_count;
      std::uint64_t n = 0;
      if (!parse_decimal(trim(f.value), n)) return std::unexpected(HeadError::bad_request);
      framing.content_length = n;
    }
  }
  if (te_count > 0) {
    if (cl_count > 0) return std::unexpected(HeadError::bad_request);
    if (!iequals(last_te, "chunked") || chunked_seen != 1) return std::unexpected(HeadError::bad_request);
    framing.chunked = true;
    framing.content_length.reset();
  }
  if (cl_count > 1) return std::unexpected(HeadError::bad_request);
  return framing;
}

void append_field_line(std::string& out, const Field& field) {
  const std::size_t at = out.size();
  const std::size_t size = at + field.name.size() + 2 + field.value.size() + 2;
  // The callback's size argument is not used: GCC 12 passes the new capacity there.
  out.resize_and_overwrite(size, [&](char* p, std::size_t) {
    p = std::copy(field.name.begin(), field.name.end(), p + at);
    *p++ = ':';
    *p++ = ' ';
    p = std::copy(field.value.begin(), field.value.end(), p);
    *p++ = '\r';
    *p = '\n';
    return size;
  });
}

std::size_t format_chunk_size(char (&buf)[24], std::size_t size) {
  auto [p, ec] = std::to_chars(buf, buf + 20, size, 16);
  *p++ = '\r';
  *p++ = '\n';
  return static_cast<std::size_t>(p - buf);
}

std::string last_chunk(const Fields& trailers) {
  std::string out = "0\r\n";
  for (const auto& f : trailers) append_field_line(out, f);
  out += "\r\n";
  return out;
}

bool connection_has(const Fields& fields, std::string_view token) {
  for (const auto& f : fields) {
    if (f.name != "connection") continue;
    std::string_view v = f.value;
    std::size_t start = 0;
    while (start <= v.size()) {
      std::size_t comma = v.find(',', start);
      if (iequals(trim(v.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start)), token))
        return true;
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
  }
  return false;
}

}  // namespace cmux::http
