// IoThreads: N I/O threads, each running its own io_context. A connection lives on one
// thread for its whole life, so nothing inside a worker needs a lock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "net/asio.hpp"

namespace cmux::net {

class IoThreads {
 public:
  explicit IoThreads(std::size_t count);
  ~IoThreads();
  IoThreads(const IoThreads&) = delete;
  IoThreads& operator=(const IoThreads&) = delete;

  std::size_t size() const { return contexts_.size(); }
  asio::io_context& context(std::size_t i) { return *contexts_[i]; }
  void start();
  // Lets the threads finish once they run out of work (no forced stop).
  void release();
  void stop();  // forced
  void join();
  // After join(): destroys every handler and suspended coroutine still pending on any context,
  // while all contexts exist (a frame's destructor may hand work to another context). Call it
  // before destroying what those coroutines reference; the destructor calls it too.
  void shutdown();
  // Waits up to `timeout` for every thread to run out of work; false if some still run.
  bool wait_idle(std::chrono::milliseconds timeout);

 private:
  // An io_context whose pending handlers and suspended coroutine frames can be destroyed
  // (shutdown) before the context itself: see ~IoThreads.
  class Context : public asio::io_context {
   public:
    using asio::io_context::io_context;
    using asio::execution_context::shutdown;
  };
  std::vector<std::unique_ptr<Context>> contexts_;
  std::vector<std::unique_ptr<asio::executor_work_guard<asio::io_context::executor_type>>> guards_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable finished_cv_;
  std::size_t finished_ = 0;
};

}  // namespace cmux::net
