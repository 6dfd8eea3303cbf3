#include "net/stop_signals.hpp"

#include <pthread.h>

#include <cerrno>

namespace cmux::net {

StopSignals::StopSignals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
}

int StopSignals::wait(std::chrono::milliseconds period, const std::function<void()>& tick) const {
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(period);
  const timespec timeout{static_cast<time_t>(seconds.count()),
                         static_cast<long>(std::chrono::nanoseconds(period - seconds).count())};
  for (;;) {
    const int sig = sigtimedwait(&set_, nullptr, &timeout);
    if (sig > 0) return sig;
    if (errno == EAGAIN) tick();  // a period without a signal; EINTR: another signal's handler ran
  }
}

}  // namespace cmux::net
