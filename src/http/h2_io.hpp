// The socket side of one nghttp2 session, shared by the HTTP/2 server and the upstream client:
// a reader feeding nghttp2_session_mem_recv, a writer flushing nghttp2_session_mem_send in
// batches, and PING liveness. The session's owner keeps the protocol state.
#pragma once

#include <nghttp2/nghttp2.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "http/message.hpp"
#include "net/event.hpp"
#include "net/transport.hpp"

namespace cmux::http {

struct H2Io {
  H2Io(net::Transport& t, const asio::any_io_executor& ex, std::string label)
      : transport(t), write_event(ex), label(std::move(label)) {}

  net::Transport& transport;
  nghttp2_session* session = nullptr;
  net::Event write_event;
  std::string label;              // log prefix, e.g. "[C12]" or "upstream"
  bool reading_done = false;      // no more input will be fed (EOF, error, or shutting down)
  bool dead = false;              // nghttp2 or the socket failed: stop now
  bool ping_outstanding = false;  // cleared by the owner on PING ACK
  bool linger = false;            // we ended the session with an error GOAWAY: let the peer read it
  bool in_read = false;           // the reader waits for the socket
  // Set while a write is in flight: a peer that takes nothing for `send_timeout` is dropped.
  std::chrono::steady_clock::time_point writing_since = std::chrono::steady_clock::time_point::max();
  // What the writer sends next: nghttp2's frames, and DATA payloads appended straight from the
  // streams' outboxes (send_data_frame). Sent once it holds kBatch bytes or nothing more is ready.
  std::string out;
  // Lent DATA payloads that go out by reference, without a copy, when the transport is a plain
  // socket: `data` follows out[0, at). They are valid only until the writer suspends (their
  // lenders run on this executor), so the writer hands them to the socket at once and copies
  // into `out` only what the socket did not take (send_borrowed).
  struct Borrowed {
    std::size_t at;
    std::span<const char> data;
  };
  std::vector<Borrowed> borrowed;
  bool may_borrow = false;  // this batch goes to a plain socket
  std::size_t batched = 0;  // bytes in the batch: out and borrowed
  static constexpr std::size_t kBatch = 64 * 1024;
  static constexpr std::size_t kMaxBorrowed = 16;

  void signal_write() { write_event.notify(); }
  // Ends the session with GOAWAY `code` (e.g. ENHANCE_YOUR_CALM): nothing more is read, the
  // GOAWAY is flushed, then a lingering close lets the peer see it before the socket goes.
  void terminate(std::uint32_t code);

  // Until the connection is finished: (reader && writer) || watchdog. Closes the transport.
  awaitable<void> run(std::chrono::milliseconds ping_interval, std::chrono::milliseconds ping_timeout,
                      std::chrono::milliseconds send_timeout);

 private:
  awaitable<void> reader();
  awaitable<void> writer();
  // PING liveness (every `interval`, answered within `timeout`) and write progress.
  awaitable<void> watchdog(std::chrono::milliseconds interval, std::chrono::milliseconds timeout,
                           std::chrono::milliseconds send_timeout);
  awaitable<void> linger_close();
  // Sends what the socket takes now of `out` with the borrowed pieces in place; leaves the rest,
  // copied, in `out`.
  error_code send_borrowed();
};

}  // namespace cmux::http

namespace cmux::http {

// Appends to a byte queue whose first `pos` bytes are consumed. The consumed prefix is dropped
// once it is half the buffer: under steady flow a queue never runs empty, and without this it
// kept everything the stream ever carried (a long HTTP/2 tunnel grew to 1 GB). The move is of
// at most the pending half, so appends stay amortised O(1).
inline void append_compacting(std::string& buf, std::size_t& pos, std::span<const char> data) {
  if (pos > 0 && pos * 2 >= buf.size()) {
    buf.erase(0, pos);
    pos = 0;
  }
  buf.append(data.data(), data.size());
}

// The outgoing DATA of one stream, shared by the server's response streams and the client's
// request streams: bytes queued by the stream's writer, handed to nghttp2's data source, then
// END_STREAM (with trailers when there are any).
struct H2Outbox;

// nghttp2_send_data_callback body for a DATA frame whose read callback set NO_COPY: the frame
// header and `length` bytes of `box` go to `io.out` (one copy instead of two through nghttp2's
// frame buffer). NGHTTP2_ERR_WOULDBLOCK while a full batch waits: nghttp2 asks again later.
int send_data_frame(H2Io& io, const std::uint8_t* framehd, std::size_t length, H2Outbox& box);

struct H2Outbox {
  std::string buf;
  std::span<const char> lent;  // when set: the queued bytes, borrowed from the writer (buf unused)
  std::size_t pos = 0;
  bool end = false;       // no more data after what is queued
  bool deferred = false;  // nghttp2 is waiting for data: resume() when some arrives
  Fields trailers;

  std::size_t pending() const { return (lent.data() ? lent.size() : buf.size()) - pos; }
  void append(std::span<const char> data);
  // Queues `data` without copying it; only while nothing else is queued. The caller keeps
  // `data` alive until pending() is 0 or it calls unlend(), which copies what is left (nghttp2
  // may still ask for a frame it was promised after the stream ended).
  void lend(std::span<const char> data);
  void unlend();
  // nghttp2_data_source_read_callback body: promises up to `length` bytes, sent without a copy
  // by send_data_frame(); the last call sets EOF and submits the trailers; with nothing queued
  // yet, NGHTTP2_ERR_DEFERRED.
  long read(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* out, std::size_t length,
            std::uint32_t* flags);
  // Moves `n` queued bytes to `out`.
  void take(std::size_t n, std::string& out);
  // The next `n` bytes of the lent buffer, consumed without a copy (only while lent).
  std::span<const char> borrow(std::size_t n);
  // Tells nghttp2 that data (or the end) is there, if it was waiting.
  void resume(nghttp2_session* session, std::int32_t stream_id);
};

// Pieces this big are lent to an empty outbox rather than copied. A small piece is cheaper to
// copy than to wait for the writer to take it (a suspension and a timer per response: the
// 1 KiB h2c rows went from 16 to 18 µs of CPU per request when every piece was lent).
constexpr std::size_t kLendAtLeast = 16 * 1024;

// Copies what is left of a lent buffer into the outbox when the lender stops waiting (also
// when its coroutine unwinds).
struct LendGuard {
  H2Outbox& box;
  ~LendGuard() { box.unlend(); }
};

}  // namespace cmux::http
