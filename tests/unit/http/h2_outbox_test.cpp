// H2Outbox: the bytes a stream queues leave in order, whatever mix of copied and shared pieces
// and whatever frame sizes nghttp2 asks for; shared pieces go to the writer's batch by
// reference and stay alive there after their stream is gone; producers get their buffers back.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/h2_io.hpp"

namespace cmux::http {
namespace {

// A writer's batch with no socket behind it: take() only appends to it.
struct Batch {
  asio::io_context ctx;
  net::Transport transport{tcp::socket(ctx)};
  H2Io io{transport, ctx.get_executor(), "test"};

  explicit Batch(bool may_borrow) { io.may_borrow = may_borrow; }

  // The bytes in the order the socket would get them: out with the borrowed pieces in place.
  std::string wire() const {
    std::string s;
    std::size_t from = 0;
    for (const auto& b : io.borrowed) {
      s.append(io.out, from, b.at - from);
      s.append(b.data.data(), b.data.size());
      from = b.at;
    }
    s.append(io.out, from);
    return s;
  }
};

std::string pattern(std::size_t n, char seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i % 23);
  return s;
}

// Takes everything queued in frames of at most `frame` bytes.
void drain(H2Outbox& box, H2Io& io, std::size_t frame) {
  while (box.pending() > 0) box.take(std::min(frame, box.pending()), io);
}

struct Case {
  const char* name;
  std::vector<std::size_t> copied;  // sizes of pieces appended (copied)
  std::vector<std::size_t> shared;  // sizes of pieces shared after each copied one (0: none)
  std::size_t frame;
  bool may_borrow;
  std::size_t borrowed;  // pieces the batch refers to instead of copying them
};

TEST(H2Outbox, BytesLeaveInOrder) {
  const Case cases[] = {
      {"one small copy", {1000}, {0}, 16384, true, 0},
      // Parts of 1 KiB and more go by reference (kBorrowAtLeast), copy-buffer parts included:
      // 3909 + 12475, 16384 x 3, 3909.
      {"head, then a big shared piece", {3909}, {65536}, 16384, true, 6},
      // 16384, then 3616 + 12768 (the end of the first piece is not copied), then 7232.
      {"shared pieces split across frames", {0, 0}, {20000, 20000}, 16384, true, 4},
      // 200 + 100 + 4095 copied bytes make one piece of the copy buffer, big enough to refer to.
      {"small shared pieces are copied", {100, 100}, {200, 4095}, 16384, true, 1},
      {"copies growing past one buffer", {7000, 9000, 12000}, {0, 0, 0}, 5000, true, 8},
      {"TLS: everything copied", {3909}, {65536}, 16384, false, 0},
      {"tiny frames", {10}, {5000}, 7, true, 0},
      // A tunnel's 256 KiB read is copied into buffers of at most kMaxCopyBuffer.
      {"copies bigger than a copy buffer", {256 * 1024}, {0}, 16384, true, 16},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Batch batch(c.may_borrow);
    std::string expected;
    {
      H2Outbox box;
      char seed = 'a';
      for (std::size_t i = 0; i < c.copied.size(); ++i) {
        if (c.copied[i]) {
          auto s = pattern(c.copied[i], seed++);
          box.append(s);
          expected += s;
        }
        if (c.shared[i]) {
          auto s = std::make_shared<std::string>(pattern(c.shared[i], seed++));
          box.share({s, *s});
          expected += *s;
        }
      }
      EXPECT_EQ(box.pending(), expected.size());
      drain(box, batch.io, c.frame);
      EXPECT_EQ(box.pending(), 0u);
    }  // the stream (and its outbox) may go before the batch is sent
    EXPECT_EQ(batch.io.borrowed.size(), c.borrowed);
    EXPECT_EQ(batch.wire(), expected);
  }
}

TEST(H2Outbox, TakingAsItComesKeepsOrder) {
  // A tunnel: pieces arrive while earlier ones are partly taken.
  Batch batch(true);
  H2Outbox box;
  std::string expected;
  for (int i = 0; i < 40; ++i) {
    auto s = pattern(1000 + 997 * static_cast<std::size_t>(i), static_cast<char>('A' + i % 20));
    if (i % 3 == 0) {
      auto owned = std::make_shared<std::string>(s);
      box.share({owned, *owned});
    } else {
      box.append(s);
    }
    expected += s;
    box.take(box.pending() / 2, batch.io);
    if (batch.io.borrowed.size() >= H2Io::kMaxBorrowed - 1) {  // the writer sends its batch
      EXPECT_EQ(batch.wire(), expected.substr(0, batch.wire().size()));
      expected.erase(0, batch.wire().size());
      batch.io.out.clear();
      batch.io.borrowed.clear();
    }
  }
  drain(box, batch.io, 16384);
  EXPECT_EQ(batch.wire(), expected);
}

TEST(H2Outbox, SharedPieceIsHeldUntilTheBatchLetsGo) {
  Batch batch(true);
  H2Outbox box;
  auto owned = std::make_shared<std::string>(pattern(32768, 'x'));
  box.share({owned, *owned});
  EXPECT_EQ(owned.use_count(), 2);  // queued by reference, not copied
  box.take(16384, batch.io);
  EXPECT_EQ(owned.use_count(), 3);  // the queue and the batch
  box.take(16384, batch.io);
  EXPECT_EQ(owned.use_count(), 3);  // two frames in the batch; the queue let go
  batch.io.borrowed.clear();
  EXPECT_EQ(owned.use_count(), 1);
}

TEST(H2Outbox, SmallSharedPieceIsCopied) {
  H2Outbox box;
  auto owned = std::make_shared<std::string>(pattern(kShareAtLeast - 1, 'x'));
  box.share({owned, *owned});
  EXPECT_EQ(owned.use_count(), 1);  // the producer may reuse its buffer at once
  EXPECT_EQ(box.pending(), kShareAtLeast - 1);
}

TEST(BodyBuffer, ReusedOnlyWhenNobodyHoldsIt) {
  BodyBuffer buf(1024);
  auto first = buf.room();
  auto again = buf.room();
  EXPECT_EQ(first.data(), again.data());  // nobody took the last piece
  {
    H2Outbox box;
    box.share(buf.piece(1024));  // below kShareAtLeast: copied
  }
  EXPECT_EQ(buf.room().data(), first.data());
  BodyBuffer big(kShareAtLeast);
  auto room = big.room();
  H2Outbox box;
  box.share(big.piece(room.size()));
  auto next = big.room();
  EXPECT_NE(next.data(), room.data());  // the queued piece keeps the old buffer
  EXPECT_EQ(next.size(), kShareAtLeast);
}

TEST(BodyBuffer, TwoBuffersTakeTurnsWhileOnePieceIsQueued) {
  BodyBuffer buf(kShareAtLeast);
  // The read pattern of a stream: a piece stays queued while the next one is read, and leaves
  // once that one is queued. Two buffers (two owners, both kept alive) serve any number of
  // pieces; comparing owners, not addresses, as malloc may hand out a freed address again.
  std::vector<std::weak_ptr<const void>> owners;
  std::optional<SharedBody> queued;
  for (int i = 0; i < 6; ++i) {
    buf.room();
    SharedBody next = buf.piece(kShareAtLeast);
    owners.push_back(next.owner);
    queued = std::move(next);  // the previous piece was sent: its buffer is free again
  }
  const auto same = [](const std::weak_ptr<const void>& a, const std::weak_ptr<const void>& b) {
    return !a.owner_before(b) && !b.owner_before(a);
  };
  EXPECT_FALSE(same(owners[0], owners[1]));
  for (std::size_t i = 2; i < owners.size(); ++i) EXPECT_TRUE(same(owners[i], owners[i % 2])) << i;
  EXPECT_FALSE(owners[0].expired());
  EXPECT_FALSE(owners[1].expired());
  // Both held (one queued, one by a slow consumer): a third buffer, not a shared one.
  buf.room();
  SharedBody held = buf.piece(1);
  EXPECT_TRUE(same(held.owner, owners[0]));
  buf.room();
  SharedBody third = buf.piece(1);
  EXPECT_FALSE(same(third.owner, owners[0]));
  EXPECT_FALSE(same(third.owner, owners[1]));
}

TEST(H2Outbox, ReadPromisesWhatIsQueuedThenEnds) {
  H2Outbox box;
  std::uint32_t flags = 0;
  EXPECT_EQ(box.read(nullptr, 1, nullptr, 16384, &flags), NGHTTP2_ERR_DEFERRED);
  EXPECT_TRUE(box.deferred);
  box.append(pattern(20000, 'a'));
  flags = 0;
  EXPECT_EQ(box.read(nullptr, 1, nullptr, 16384, &flags), 16384);
  EXPECT_EQ(flags, NGHTTP2_DATA_FLAG_NO_COPY);
  Batch batch(false);
  box.take(16384, batch.io);
  box.end = true;
  flags = 0;
  EXPECT_EQ(box.read(nullptr, 1, nullptr, 16384, &flags), 20000 - 16384);
  EXPECT_EQ(flags, NGHTTP2_DATA_FLAG_NO_COPY | NGHTTP2_DATA_FLAG_EOF);
}

}  // namespace
}  // namespace cmux::http
