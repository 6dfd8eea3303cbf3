// The preview proxy server (SPEC §3): a loopback forward proxy whose contexts authenticate
// with Basic credentials and whose loopback requests are rewritten to the context's workspace.
// One instance owns its threads, listener, contexts and upstream pool; two can run side by side.
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/limits.hpp"
#include "net/asio.hpp"
#include "preview/context_registry.hpp"
#include "preview/log_event.hpp"

namespace cmux::preview {

struct PreviewConfig {
  // nullopt: 127.0.0.1 from port 39385 upward (50 attempts). Set: taken as is ("ip:port",
  // port 0 = any free port; busy -> EADDRINUSE).
  std::optional<std::string> listen_addr;
  std::string upstream_proxy_url;  // cmux-proxy for routes without cmuxProxyOrigin
  bool enable_http2 = true;
  bool tls_intercept = true;
  std::string ca_dir;  // empty: $HOME/.cmux/certs
  std::vector<std::string> upstream_ca_pems;  // extra PEM roots for upstream TLS
  std::map<std::string, std::string> resolve;  // "host:port" -> "ip:port" connect overrides
  LogSink log;                                 // empty: logging off
  std::size_t threads = 1;
  http::Limits limits;
};

struct PreviewStats {
  std::uint64_t active_connections = 0;
  std::uint64_t total_connections = 0;
  std::uint64_t active_streams = 0;
  std::uint64_t total_requests = 0;
  std::uint64_t bytes_from_clients = 0;
  std::uint64_t bytes_to_clients = 0;
  std::uint64_t upstream_connections = 0;  // TCP connections opened upstream, in total
  std::uint64_t upstream_sessions = 0;     // live HTTP/2 upstream sessions
  std::uint64_t contexts = 0;
  std::uint64_t dropped_log_events = 0;    // filled in by the embedder that queues events
};

struct StartError {
  error_code code;      // e.g. address_in_use; its errno name becomes the JS `code`
  std::string message;  // for humans: what failed and where
};

class PreviewServer {
 public:
  // Validates the config, binds the listener and starts the I/O threads.
  static std::expected<std::unique_ptr<PreviewServer>, StartError> start(PreviewConfig config);
  ~PreviewServer();  // stop()
  PreviewServer(const PreviewServer&) = delete;
  PreviewServer& operator=(const PreviewServer&) = delete;

  std::uint16_t port() const;
  ContextRegistry& contexts();
  // The local CA (empty when it could not be opened: then no interception, no TLS listener).
  const std::string& ca_certificate_pem() const;
  const std::string& ca_spki_sha256() const;  // base64, for --ignore-certificate-errors-spki-list
  PreviewStats stats() const;
  // Closes the listener and every connection, joins the threads. Idempotent; thread-safe.
  void stop();

  struct Impl;

 private:
  explicit PreviewServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cmux::preview
