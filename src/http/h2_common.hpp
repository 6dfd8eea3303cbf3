// Small pieces both HTTP/2 sides (server and upstream client) need from nghttp2.
#pragma once

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <boost/container/small_vector.hpp>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace cmux::http {

inline nghttp2_nv make_nv(std::string_view name, std::string_view value) {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

// The name/value pairs of one header block, for nghttp2_submit_*: on the stack for a usual head
// (the functions that build them are not coroutines), on the heap past 24 fields.
using NvList = boost::container::small_vector<nghttp2_nv, 24>;

// Connection-specific fields HTTP/2 forbids (RFC 9113 §8.2.2), plus `host` (sent as
// :authority). `te` is handled by the caller: only `te: trailers` may be sent.
inline bool h2_forbidden_field(std::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" || name == "transfer-encoding" ||
         name == "upgrade" || name == "host" || name == "te";
}

// Frames that cost the receiver work without moving any request forward (SPEC §6 "glitches",
// CVE-2019-9512/9515/9518 and kin): PING and SETTINGS that want an ACK, PRIORITY, empty DATA
// without END_STREAM, and extension or unknown frames.
inline bool h2_glitch_frame(const nghttp2_frame_hd& hd) {
  switch (hd.type) {
    case NGHTTP2_DATA:
      return hd.length == 0 && !(hd.flags & NGHTTP2_FLAG_END_STREAM);
    case NGHTTP2_PING:
    case NGHTTP2_SETTINGS:
      return !(hd.flags & NGHTTP2_FLAG_ACK);
    case NGHTTP2_PRIORITY:
      return true;
    case NGHTTP2_HEADERS:
    case NGHTTP2_RST_STREAM:  // counted by nghttp2's own stream-reset rate limit
    case NGHTTP2_PUSH_PROMISE:
    case NGHTTP2_GOAWAY:
    case NGHTTP2_WINDOW_UPDATE:
    case NGHTTP2_CONTINUATION:  // bounded per header block by nghttp2 (max_continuations)
      return false;
    default:
      return true;
  }
}

// Token bucket for glitches: `burst` to start with, refilled at `rate` per second.
class GlitchBudget {
 public:
  using Clock = std::chrono::steady_clock;
  GlitchBudget(std::uint32_t burst, std::uint32_t rate) : tokens_(burst), burst_(burst), rate_(rate), last_(Clock::now()) {}

  // false: the budget is spent; the peer is flooding.
  bool spend() {
    if (tokens_ < 1.0) {
      auto now = Clock::now();
      tokens_ = std::min<double>(burst_, tokens_ + std::chrono::duration<double>(now - last_).count() * rate_);
      last_ = now;
      if (tokens_ < 1.0) return false;
    }
    tokens_ -= 1.0;
    return true;
  }

 private:
  double tokens_;
  double burst_;
  double rate_;
  Clock::time_point last_;
};

}  // namespace cmux::http
