#include "net/slow_wait.hpp"

namespace cmux::net {

SlowWait::SlowWait(const asio::any_io_executor& ex)
    : service_(asio::use_service<SlowWaitService>(asio::query(ex, asio::execution::context))) {
  service_.add(*this, ex);
}

SlowWait::~SlowWait() {
  if (!slow_) service_.remove(*this);
}

void SlowWaitService::add(SlowWait& w, const asio::any_io_executor& ex) {
  w.born_ = ticks_;
  w.prev_ = tail_;
  w.next_ = nullptr;
  (tail_ ? tail_->next_ : head_) = &w;
  tail_ = &w;
  if (running_) return;
  if (!timer_) timer_.emplace(ex);
  running_ = true;
  arm();
}

void SlowWaitService::remove(SlowWait& w) {
  (w.prev_ ? w.prev_->next_ : head_) = w.next_;
  (w.next_ ? w.next_->prev_ : tail_) = w.prev_;
  w.prev_ = w.next_ = nullptr;
}

void SlowWaitService::arm() {
  timer_->expires_after(SlowWait::kTick);
  timer_->async_wait([this](error_code ec) {
    if (ec) {
      running_ = false;
      return;
    }
    tick();
  });
}

void SlowWaitService::tick() {
  ++ticks_;
  // A wait born at tick N has lasted at least one full period once the count reaches N + 2.
  while (head_ && ticks_ - head_->born_ >= 2) {
    SlowWait& w = *head_;
    remove(w);
    w.slow_ = true;
    // Completions are posted, never run inside emit(): no wait can go away during this loop.
    w.signal_.emit(asio::cancellation_type::terminal);
  }
  // Nothing left to watch: stop ticking until the next wait (an idle process stays asleep).
  if (!head_) {
    running_ = false;
    return;
  }
  arm();
}

}  // namespace cmux::net
