#include "net/io_threads.hpp"

#include <pthread.h>

#include <csignal>

namespace cmux::net {

IoThreads::IoThreads(std::size_t count) {
  if (count == 0) count = 1;
  for (std::size_t i = 0; i < count; ++i) {
    contexts_.push_back(std::make_unique<Context>(1));
    guards_.push_back(std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(
        contexts_.back()->get_executor()));
  }
}

IoThreads::~IoThreads() {
  stop();
  join();
  shutdown();
}

// Destroying the contexts one after the other freed context 0 before the frames pending on the
// others ran their destructors, and forward_h2's Guard hands its stream to the session's home
// thread (context 0) from there (ASan: heap-use-after-free at cmux-preview-proxy exit). So every
// context is shut down first; what a destructor hands over stays queued and is destroyed with
// its context. Idempotent.
void IoThreads::shutdown() {
  guards_.clear();
  for (auto& ctx : contexts_) ctx->shutdown();
}

void IoThreads::start() {
  for (auto& ctx : contexts_) {
    threads_.emplace_back([this, c = ctx.get()] {
      // splice(2) into a socket the peer reset raises SIGPIPE (splice has no MSG_NOSIGNAL);
      // blocked here, it stays pending on this thread and the call fails with EPIPE, whatever
      // the host process (the CLIs, Node, Electron) does with the signal.
      sigset_t pipe;
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
      c->run();
      std::lock_guard lock(mutex_);
      ++finished_;
      finished_cv_.notify_all();
    });
  }
}

void IoThreads::release() { guards_.clear(); }

void IoThreads::stop() {
  for (auto& ctx : contexts_) ctx->stop();
}

bool IoThreads::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return finished_cv_.wait_for(lock, timeout, [this] { return finished_ >= threads_.size(); });
}

void IoThreads::join() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

}  // namespace cmux::net
