// The socket side of one nghttp2 session, shared by the HTTP/2 server and the upstream client:
// a reader feeding nghttp2_session_mem_recv, a writer flushing nghttp2_session_mem_send in
// batches, and PING liveness. The session's owner keeps the protocol state.
#pragma once

#include <nghttp2/nghttp2.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "http/exchange.hpp"
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
  // DATA payloads that go out by reference, without a copy, when the transport is a plain
  // socket: `data` follows out[0, at), and `owner` keeps it alive (its stream may close while
  // the batch is built). The writer hands them to the socket at once and copies into `out`
  // only what the socket did not take (send_borrowed).
  struct Borrowed {
    std::size_t at;
    std::span<const char> data;
    std::shared_ptr<const void> owner;
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
// request streams: pieces queued by the stream's writer, handed to nghttp2's data source, then
// END_STREAM (with trailers when there are any). A piece is either copied into the outbox's own
// buffer or, when it comes with an owner (SharedBody), queued by reference.
struct H2Outbox;

// nghttp2_send_data_callback body for a DATA frame whose read callback set NO_COPY: the frame
// header and `length` bytes of `box` go to the writer's batch (H2Outbox::take). Returns
// NGHTTP2_ERR_WOULDBLOCK while a full batch waits: nghttp2 asks again later.
int send_data_frame(H2Io& io, const std::uint8_t* framehd, std::size_t length, H2Outbox& box);

struct H2Outbox {
  bool end = false;       // no more data after what is queued
  bool deferred = false;  // nghttp2 is waiting for data: resume() when some arrives
  Fields trailers;

  std::size_t pending() const { return queued_; }
  // Queues a copy of `data`.
  void append(std::span<const char> data);
  // Queues `body.data` by reference, keeping `body.owner` until the bytes are sent (a small
  // piece is copied instead, so that its producer keeps its buffer).
  void share(const SharedBody& body);
  // nghttp2_data_source_read_callback body: promises up to `length` bytes, sent without a copy
  // by send_data_frame(); the last call sets EOF and submits the trailers; with nothing queued
  // yet, NGHTTP2_ERR_DEFERRED.
  long read(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* out, std::size_t length,
            std::uint32_t* flags);
  // Moves `n` queued bytes to the writer's batch: by reference when the batch goes to a plain
  // socket and the piece is worth an iovec of its own, copied into `io.out` otherwise.
  void take(std::size_t n, H2Io& io);
  // Tells nghttp2 that data (or the end) is there, if it was waiting.
  void resume(nghttp2_session* session, std::int32_t stream_id);

 private:
  struct Piece {
    std::shared_ptr<const void> owner;
    std::span<const char> data;  // what is left of it to send
  };
  std::vector<Piece> pieces_;  // pieces_[head_..] are queued
  std::size_t head_ = 0;
  std::size_t queued_ = 0;
  // The buffer appends copy into: [0, copy_used_) is taken (queued, or in a batch), the rest is
  // free. A new one is made when it is full and still referenced.
  std::shared_ptr<char[]> copy_;
  std::size_t copy_size_ = 0;
  std::size_t copy_used_ = 0;
};

// Pieces smaller than this are copied rather than referenced, both into the outbox (SharedBody)
// and into the writer's batch: an iovec (and an owner reference) per small piece costs more
// than the copy.
constexpr std::size_t kShareAtLeast = 4 * 1024;
// A part of a referenced piece that goes into the batch by reference: the end of one piece and
// the start of the next often share a 16 KiB DATA frame, and copying those parts copied a
// quarter of every 100 KiB body on 100 concurrent streams.
constexpr std::size_t kBorrowAtLeast = 1024;
// The buffer a growing queue of copies gets (the first piece gets one of its own size), and
// the largest one: below glibc's mmap threshold (net::tune_heap fixes it at 128 KiB).
constexpr std::size_t kCopyBuffer = 16 * 1024;
constexpr std::size_t kMaxCopyBuffer = 64 * 1024;

}  // namespace cmux::http
