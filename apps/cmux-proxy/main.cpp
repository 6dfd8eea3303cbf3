// cmux-proxy: the header-routed reverse proxy of every cloud workspace (SPEC §2).
// Thin: parse the command line into an immutable config, start, wait for a signal, drain.
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "../common/limit_options.hpp"
#include "http/server.hpp"
#include "net/heap_trim.hpp"
#include "net/io_threads.hpp"
#include "net/listen_addr.hpp"
#include "net/stop_signals.hpp"
#include "tls/server_context.hpp"
#include "workspace/handler.hpp"

using namespace cmux;

namespace {

std::optional<bool> parse_bool(std::string_view v) {
  std::string s = http::to_lower(http::trim(v));
  if (s == "1" || s == "true" || s == "yes" || s == "on") return true;
  if (s == "0" || s == "false" || s == "no" || s == "off") return false;
  return std::nullopt;
}

// "%*" in JSON mode: messages that already are JSON objects pass through; anything else is
// wrapped as {"level":..,"msg":..}.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string_view text(msg.payload.data(), msg.payload.size());
    std::time_t secs = std::chrono::system_clock::to_time_t(msg.time);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count() % 1000;
    char ts[64];
    std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    std::string prefix = std::string("{\"ts\":\"") + ts + "." + std::to_string(1000 + ms).substr(1) + "Z\",\"level\":\"" +
                         std::string(spdlog::level::to_string_view(msg.level).data()) + "\",";
    std::string out;
    if (text.starts_with('{')) {
      out = prefix + std::string(text.substr(1));
    } else {
      out = prefix + "\"msg\":\"";
      for (unsigned char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        if (c < 0x20) {
          out += ' ';
          continue;
        }
        out += static_cast<char>(c);
      }
      out += "\"}";
    }
    dest.append(out.data(), out.data() + out.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessageFlag>(); }
};

void setup_logging(const std::string& level, bool json) {
  auto logger = std::make_shared<spdlog::logger>("cmux-proxy", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (json) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonMessageFlag>('*').set_pattern("%*");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

std::vector<std::string> split_env_list(const char* value) {
  std::vector<std::string> out;
  if (value) out.emplace_back(value);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  net::reexec_with_heap_tunables(argv);  // first: it may exec this binary again (net/heap_trim.hpp)
  CLI::App app{"cmux-proxy: header-routed reverse proxy for cmux workspaces (HTTP/1.1, HTTP/2, WebSocket, CONNECT)"};
  app.set_version_flag("--version", std::string("cmux-proxy ") + CMUX_VERSION);
  std::vector<std::string> listen;
  std::string upstream_host;
  std::string allow_default;
  bool require_local_host = false;
  std::string tls_cert, tls_key;
  std::string log_level = "info";
  std::string log_format = "text";
  std::string metrics_listen;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  double drain_timeout = 10;
  http::Limits limits;

  app.add_option("--listen", listen,
                 "Listen address IP:PORT or [IPv6]:PORT; repeatable, comma lists allowed (env CMUX_LISTEN; "
                 "default 0.0.0.0:39379,127.0.0.1:39379)");
  app.add_option("--upstream-host", upstream_host, "Default upstream host (env CMUX_UPSTREAM_HOST; default 127.0.0.1)");
  app.add_flag("--allow-default-upstream{true}", allow_default,
               "Without X-Cmux-Workspace-Internal use the default upstream host even when the Host names a "
               "workspace (env CMUX_ALLOW_DEFAULT_UPSTREAM; default true)");
  app.add_flag("--require-local-host", require_local_host,
               "Reject a non-local Host without X-Cmux-Host-Override (502)");
  auto* cert_opt = app.add_option("--tls-cert", tls_cert, "PEM certificate chain: every listener speaks TLS (ALPN h2, http/1.1)");
  auto* key_opt = app.add_option("--tls-key", tls_key, "PEM private key for --tls-cert");
  cert_opt->needs(key_opt);
  key_opt->needs(cert_opt);
  app.add_option("--log-level", log_level, "error|warn|info|debug")
      ->check(CLI::IsMember({"error", "warn", "info", "debug"}));
  app.add_option("--log-format", log_format, "text|json")->check(CLI::IsMember({"text", "json"}));
  app.add_option("--metrics-listen", metrics_listen, "Prometheus /metrics listener IP:PORT");
  app.add_option("--threads", threads, "I/O threads (default: number of cores)")->check(CLI::Range(1u, 256u));
  app.add_option("--drain-timeout", drain_timeout, "Seconds in-flight requests get after SIGINT/SIGTERM (default 10)")
      ->check(CLI::Range(0.0, 3600.0));
  apps::add_limit_options(app, limits);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints help/version (rc 0) or the error
    return rc == 0 ? 0 : 2;
  }

  setup_logging(log_level, log_format == "json");

  // Environment, then command line (the command line replaces env and defaults).
  if (listen.empty()) listen = split_env_list(std::getenv("CMUX_LISTEN"));
  if (listen.empty()) listen = {"0.0.0.0:39379", "127.0.0.1:39379"};
  auto parsed = net::parse_listen_list(listen);
  if (!parsed) {
    spdlog::error("invalid --listen: {}", parsed.error());
    return 2;
  }
  auto addrs = net::dedupe_listen_addrs(*parsed);

  auto config = std::make_shared<workspace::HandlerConfig>();
  if (upstream_host.empty()) {
    const char* env = std::getenv("CMUX_UPSTREAM_HOST");
    upstream_host = env && *env ? env : "127.0.0.1";
  }
  if (upstream_host.size() > 2 && upstream_host.front() == '[' && upstream_host.back() == ']')
    upstream_host = upstream_host.substr(1, upstream_host.size() - 2);
  config->route.default_upstream_host = upstream_host;
  if (allow_default.empty()) {
    const char* env = std::getenv("CMUX_ALLOW_DEFAULT_UPSTREAM");
    if (env && *env) allow_default = env;
  }
  if (!allow_default.empty()) {
    auto b = parse_bool(allow_default);
    if (!b) {
      spdlog::error("invalid boolean for --allow-default-upstream / CMUX_ALLOW_DEFAULT_UPSTREAM: {}", allow_default);
      return 2;
    }
    config->route.allow_default_upstream = *b;
  }
  config->route.require_local_host = require_local_host;
  config->json_logs = log_format == "json";
  config->limits = limits;

  http::ServerOptions options;
  options.limits = config->limits;
  if (!tls_cert.empty()) {
    auto ctx = tls::make_server_context(tls_cert, tls_key);
    if (!ctx) {
      spdlog::error("{}", ctx.error());
      return 2;
    }
    options.tls = [ctx = *ctx] { return ctx; };
  }

  // SIGINT/SIGTERM are blocked from here on, in every thread started below, and wait for
  // stop_signals.wait(): a parent may send SIGTERM as soon as it read our output.
  const net::StopSignals stop_signals;
  net::tune_heap();
  net::IoThreads io(threads);
  workspace::Metrics metrics;
  workspace::WorkspaceHandler handler(config, io, metrics);
  http::Server server(io, [&handler](http::Exchange& ex) { return handler.handle(ex); }, options);
  metrics.active_connections = [&server] { return server.active_connections(); };
  metrics.total_connections = [&server] { return server.total_connections(); };

  std::size_t bound = 0;
  for (const auto& a : addrs) {
    tcp::endpoint ep(asio::ip::make_address(a.ip), a.port);
    auto result = server.listen(ep);
    if (!result) {
      spdlog::error("cannot listen on {}: {}", a.to_string(), result.error().message());
      continue;
    }
    ++bound;
    net::ListenAddr real{result->address().to_string(), result->port()};
    std::printf("cmux-proxy listening on %s\n", real.to_string().c_str());
  }
  if (bound == 0) {
    spdlog::error("no listener could bind; exiting");
    return 1;
  }

  http::ServerOptions metrics_options;
  metrics_options.limits = config->limits;
  http::Server metrics_server(
      io,
      [&metrics](http::Exchange& ex) -> awaitable<void> {
        if (ex.request().method != "GET" || ex.request().target.substr(0, ex.request().target.find('?')) != "/metrics") {
          co_await http::respond_text(ex, 404, "not found");
          co_return;
        }
        std::string body = metrics.render();
        http::ResponseHead head;
        head.fields = {{"content-type", "text/plain; version=0.0.4; charset=utf-8"},
                       {"content-length", std::to_string(body.size())}};
        if (co_await ex.send_head(head, false)) co_return;
        if (co_await ex.send_body(body)) co_return;
        co_await ex.finish({});
      },
      metrics_options);
  if (!metrics_listen.empty()) {
    auto m = net::parse_listen_list({metrics_listen});
    if (!m || m->size() != 1) {
      spdlog::error("invalid --metrics-listen: {}", metrics_listen);
      return 2;
    }
    auto result = metrics_server.listen(tcp::endpoint(asio::ip::make_address((*m)[0].ip), (*m)[0].port));
    if (!result) {
      spdlog::error("cannot listen on {} for metrics: {}", (*m)[0].to_string(), result.error().message());
      return 1;
    }
    net::ListenAddr real{result->address().to_string(), result->port()};
    std::printf("cmux-proxy metrics on %s\n", real.to_string().c_str());
  }
  std::fflush(stdout);

  server.start();
  metrics_server.start();
  io.start();

  // Wait for SIGINT/SIGTERM on the main thread, then drain.
  const int signal_number = stop_signals.wait(std::chrono::seconds(10), net::trim_heap);
  spdlog::info("signal {}: draining (up to {}s)", signal_number, drain_timeout);

  server.drain();
  metrics_server.drain();
  // Poll the connection count every 10 ms: shutdown only, never on a request path.
  const auto wait_drained = [&](std::chrono::steady_clock::duration limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (server.active_connections() + metrics_server.active_connections() > 0 &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  };
  wait_drained(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(drain_timeout)));
  if (server.active_connections() > 0) {
    spdlog::warn("drain timeout: closing {} connection(s)", server.active_connections());
    server.terminate();
    metrics_server.terminate();
    wait_drained(std::chrono::seconds(2));
  }
  io.stop();
  io.join();
  io.shutdown();  // coroutines cut off by stop() reference the server and handler: destroy them first
  return 0;
}
