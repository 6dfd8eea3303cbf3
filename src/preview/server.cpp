#include "preview/server.hpp"

#include <mutex>

#include "http/server.hpp"
#include "http/upstream_pool.hpp"
#include "net/io_threads.hpp"
#include "net/listen_addr.hpp"
#include "preview/handler.hpp"
#include "preview/url.hpp"
#include "tls/client_context.hpp"
#include "tls/local_ca.hpp"

namespace cmux::preview {

namespace {

constexpr std::uint16_t kFirstPort = 39385;
constexpr int kPortAttempts = 50;

StartError invalid(std::string message) { return StartError{asio::error::invalid_argument, std::move(message)}; }

// "host:port" -> "ip:port" overrides, keyed the way the pool looks them up.
std::expected<std::unordered_map<std::string, std::pair<std::string, std::uint16_t>>, StartError> parse_resolve(
    const std::map<std::string, std::string>& resolve) {
  std::unordered_map<std::string, std::pair<std::string, std::uint16_t>> out;
  for (const auto& [from, to] : resolve) {
    auto key = parse_authority(from);
    if (!key || !key->port || *key->port == 0) return std::unexpected(invalid("resolve: invalid host:port " + from));
    auto value = parse_authority(to);
    error_code ec;
    if (value) asio::ip::make_address(value->host, ec);
    if (!value || !value->port || *value->port == 0 || ec)
      return std::unexpected(invalid("resolve: " + from + " must map to ip:port, not " + to));
    out[format_host_port(key->host, *key->port)] = {value->host, *value->port};
  }
  return out;
}

}  // namespace

struct PreviewServer::Impl {
  explicit Impl(PreviewConfig c) : config(std::move(c)), threads(config.threads) {}

  PreviewConfig config;
  asio::thread_pool minting{1};  // leaf certificates are minted here, off the I/O threads
  net::IoThreads threads;        // destroyed before the pool, after everything that runs on it
  std::shared_ptr<tls::LocalCa> ca;
  std::string no_ca;
  ContextRegistry contexts;
  http::UpstreamCounters upstream;
  std::unique_ptr<http::UpstreamPool> pool;
  std::unique_ptr<PreviewHandler> handler;
  std::unique_ptr<http::Server> server;
  std::uint16_t port = 0;
  std::once_flag stopped;
};

PreviewServer::PreviewServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

PreviewServer::~PreviewServer() { stop(); }

std::expected<std::unique_ptr<PreviewServer>, StartError> PreviewServer::start(PreviewConfig config) {
  if (config.threads == 0 || config.threads > 64) return std::unexpected(invalid("threads must be 1-64"));
  if (!config.upstream_proxy_url.empty()) {
    auto url = parse_url(config.upstream_proxy_url);
    if (!url || (url->scheme != "http" && url->scheme != "https"))
      return std::unexpected(invalid("upstreamProxyUrl must be an http:// or https:// URL"));
  }
  auto resolve = parse_resolve(config.resolve);
  if (!resolve) return std::unexpected(resolve.error());
  auto tls = tls::ClientContext::make(config.upstream_ca_pems);
  if (!tls) return std::unexpected(invalid(tls.error()));

  auto impl = std::make_unique<Impl>(std::move(config));
  auto& c = impl->config;
  http::UpstreamPoolOptions pool_options;
  pool_options.limits = c.limits;
  pool_options.tls = *tls;
  pool_options.resolve = std::move(*resolve);
  pool_options.h2.ping_interval = c.limits.h2_ping_interval;
  pool_options.h2.ping_timeout = c.limits.h2_ping_timeout;
  pool_options.h2.send_timeout = c.limits.send_progress;
  pool_options.h2.handshake_timeout = c.limits.upstream_connect;
  pool_options.h2.max_header_list = static_cast<std::uint32_t>(c.limits.head.max_head_bytes);
  impl->pool = std::make_unique<http::UpstreamPool>(impl->threads, std::move(pool_options), impl->upstream);

  // The local CA: interception and the TLS listener need it; without it (an unwritable caDir)
  // the proxy still works as a plain proxy, and says why.
  std::string ca_dir = c.ca_dir;
  if (ca_dir.empty()) {
    const char* home = std::getenv("HOME");
    ca_dir = std::string(home && *home ? home : ".") + "/.cmux/certs";
  }
  auto log = c.log;
  auto ca = tls::LocalCa::open(ca_dir, [log](std::string_view warning) {
    if (log) log(LogEvent{"ca-warning", {{"message", std::string(warning)}}});
  });
  if (ca) {
    impl->ca = *ca;
  } else if (c.log) {
    c.log(LogEvent{"ca-error", {{"message", ca.error()}, {"caDir", ca_dir}}});
  }

  auto hc = std::make_shared<HandlerConfig>();
  hc->upstream_proxy_url = c.upstream_proxy_url;
  hc->enable_http2 = c.enable_http2;
  hc->limits = c.limits;
  hc->log = c.log;
  hc->tls_intercept = c.tls_intercept;
  hc->ca = impl->ca;
  hc->mint_executor = impl->minting.get_executor();
  impl->handler = std::make_unique<PreviewHandler>(std::move(hc), impl->contexts, *impl->pool);

  http::ServerOptions server_options;
  server_options.limits = c.limits;
  if (impl->ca) {
    // TLS straight on the listener (first byte 0x16): Chromium can use https://127.0.0.1:<port>
    // as an HTTP/2 proxy. Its certificate is minted by the first such connection (then cached
    // by the CA), so a proxy that never sees one never initialises OpenSSL's TLS side.
    // A failure is logged once, not for every connection that tries again.
    server_options.tls = [ca = impl->ca, log, logged = std::make_shared<std::once_flag>()]()
        -> std::shared_ptr<ssl::context> {
      auto listener_tls = ca->listener_context();
      if (listener_tls) return *listener_tls;
      if (log) std::call_once(*logged, [&] { log(LogEvent{"ca-error", {{"message", listener_tls.error()}}}); });
      return nullptr;
    };
  }
  auto* handler = impl->handler.get();
  impl->server = std::make_unique<http::Server>(
      impl->threads, [handler](http::Exchange& ex) { return handler->handle(ex); }, server_options);

  if (c.listen_addr) {
    auto parsed = net::parse_listen_list({*c.listen_addr});
    if (!parsed || parsed->size() != 1)
      return std::unexpected(invalid("listenAddr must be ip:port, not " + *c.listen_addr));
    const auto& a = (*parsed)[0];
    auto bound = impl->server->listen(tcp::endpoint(asio::ip::make_address(a.ip), a.port));
    if (!bound)
      return std::unexpected(StartError{bound.error(), "cannot listen on " + a.to_string() + ": " + bound.error().message()});
    impl->port = bound->port();
  } else {
    // The default port moves up while it is taken (another app instance, a stale process).
    error_code last;
    for (int i = 0; i < kPortAttempts && impl->port == 0; ++i) {
      auto port = static_cast<std::uint16_t>(kFirstPort + i);
      auto bound = impl->server->listen(tcp::endpoint(asio::ip::address_v4::loopback(), port));
      if (bound) impl->port = bound->port();
      else if (bound.error() != asio::error::address_in_use) last = bound.error();
      if (!bound && bound.error() != asio::error::address_in_use) break;
    }
    if (impl->port == 0) {
      if (!last) last = asio::error::address_in_use;
      return std::unexpected(StartError{last, "cannot listen on 127.0.0.1:" + std::to_string(kFirstPort) + "-" +
                                                  std::to_string(kFirstPort + kPortAttempts - 1) + ": " +
                                                  last.message()});
    }
  }
  impl->server->start();
  impl->threads.start();
  if (c.log) c.log(LogEvent{"listening", {{"host", std::string("127.0.0.1")}, {"port", std::int64_t{impl->port}}}});
  return std::unique_ptr<PreviewServer>(new PreviewServer(std::move(impl)));
}

std::uint16_t PreviewServer::port() const { return impl_->port; }

ContextRegistry& PreviewServer::contexts() { return impl_->contexts; }

const std::string& PreviewServer::ca_certificate_pem() const {
  return impl_->ca ? impl_->ca->certificate_pem() : impl_->no_ca;
}

const std::string& PreviewServer::ca_spki_sha256() const {
  return impl_->ca ? impl_->ca->spki_sha256_base64() : impl_->no_ca;
}

PreviewStats PreviewServer::stats() const {
  PreviewStats s;
  const auto& h = impl_->handler->counters();
  s.active_connections = impl_->server->active_connections();
  s.total_connections = impl_->server->total_connections();
  s.active_streams = static_cast<std::uint64_t>(std::max<std::int64_t>(0, h.active_streams.load()));
  s.total_requests = h.total_requests.load();
  s.bytes_from_clients = h.bytes_from_clients.load();
  s.bytes_to_clients = h.bytes_to_clients.load();
  s.upstream_connections = impl_->upstream.connects.load();
  s.upstream_sessions = static_cast<std::uint64_t>(std::max<std::int64_t>(0, impl_->upstream.sessions.load()));
  s.contexts = impl_->contexts.size();
  return s;
}

void PreviewServer::stop() {
  std::call_once(impl_->stopped, [this] {
    auto& impl = *impl_;
    impl.server->drain();      // closes the listener
    impl.server->terminate();  // and every connection
    asio::post(impl.threads.context(0), [pool = impl.pool.get()] { pool->close_sessions(); });
    // The threads end once the closing work is done; whatever still runs after a grace
    // period (a stuck peer) is cut off.
    impl.threads.release();
    if (!impl.threads.wait_idle(std::chrono::seconds(2))) impl.threads.stop();
    impl.threads.join();
    // Coroutines cut off above reference the pool, handler and server: destroy them now.
    impl.threads.shutdown();
    impl.minting.join();
  });
}

}  // namespace cmux::preview
