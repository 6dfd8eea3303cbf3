// How the CLIs wait for SIGINT/SIGTERM: the signals are blocked in every thread and taken
// synchronously by the main thread (sigtimedwait), so no signal handler runs anywhere.
//
// With an asynchronous handler (asio::signal_set) a SIGTERM sent right after start was now and
// then never handled under ThreadSanitizer, whose runtime defers handlers: the process hung until
// killed (about 1 start in 15 in a loop; never seen without TSan, but a lost stop is the worst
// way for a proxy to fail). A blocked signal stays pending until taken, whenever it comes.
#pragma once

#include <signal.h>

#include <chrono>
#include <functional>

namespace cmux::net {

class StopSignals {
 public:
  // Blocks SIGINT and SIGTERM in the calling thread. Construct it in main before any thread
  // starts: threads inherit the mask, so the signals wait for wait().
  StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // Waits for SIGINT or SIGTERM and returns its number; calls `tick` every `period` meanwhile.
  int wait(std::chrono::milliseconds period, const std::function<void()>& tick) const;

 private:
  sigset_t set_;
};

}  // namespace cmux::net
