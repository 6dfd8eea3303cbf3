// cmux-preview-proxy: the preview proxy of SPEC §3 as a standalone program (SPEC §5), for
// tests, benchmarks and debugging without Electron. Thin: parse the command line into a
// PreviewConfig, start, create the contexts, print them, wait for a signal, stop.
#include <pwd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "../common/limit_options.hpp"
#include "net/heap_trim.hpp"
#include "net/json.hpp"
#include "net/listen_addr.hpp"
#include "net/stop_signals.hpp"
#include "preview/log_event.hpp"
#include "preview/resolve_flag.hpp"
#include "preview/route.hpp"
#include "preview/server.hpp"

using namespace cmux;

namespace {

void print_line(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);  // the parent reads the port and credentials as soon as they appear
}

// One write per event under a mutex, so lines from several I/O threads never interleave.
void write_log_event(const preview::LogEvent& event) {
  static std::mutex mutex;
  const std::string line = preview::to_json(event) + "\n";
  std::lock_guard lock(mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

std::optional<std::string> default_ca_dir() {
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') {
    const passwd* entry = getpwuid(getuid());  // still single-threaded here
    home = entry != nullptr ? entry->pw_dir : nullptr;
  }
  if (home == nullptr || *home == '\0') return std::nullopt;
  return std::string(home) + "/.cmux/certs";
}

std::optional<std::string> read_file(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return std::nullopt;
  std::string text;
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, n);
  const bool failed = std::ferror(file) != 0;  // e.g. EISDIR: fopen succeeds on a directory
  std::fclose(file);
  if (failed) return std::nullopt;
  return text;
}

std::string route_json(const std::optional<preview::Route>& route) {
  if (!route) return "null";
  std::string out = "{\"morphId\":\"" + net::json_escape(route->morph_id) + "\",\"scope\":\"" +
                    net::json_escape(route->scope) + "\",\"domainSuffix\":\"" +
                    net::json_escape(route->domain_suffix) + "\",\"cmuxProxyOrigin\":\"" +
                    net::json_escape(route->cmux_proxy_origin) + "\"";
  if (route->workspace) out += ",\"workspace\":\"" + net::json_escape(*route->workspace) + "\"";
  return out + "}";
}

// {"port":..,"webContentsId":..,"username":..,"password":..,"route":..,"proxy":..}
std::string context_json(const preview::Context& context, const net::ListenAddr& bound) {
  // Credentials are hex and the user name "wc-<n>-<hex>": safe in a URL as they are.
  const std::string proxy = "http://" + context.username + ":" + context.password + "@" + bound.to_string();
  return "{\"port\":" + std::to_string(bound.port) +
         ",\"webContentsId\":" + std::to_string(context.web_contents_id) + ",\"username\":\"" +
         net::json_escape(context.username) + "\",\"password\":\"" + net::json_escape(context.password) +
         "\",\"route\":" + route_json(context.route) + ",\"proxy\":\"" + net::json_escape(proxy) + "\"}";
}

}  // namespace

int main(int argc, char** argv) {
  net::reexec_with_heap_tunables(argv);  // first: it may exec this binary again (net/heap_trim.hpp)
  CLI::App app{"cmux-preview-proxy: authenticated forward proxy that routes a preview's loopback requests "
               "to its cloud workspace"};
  app.set_version_flag("--version", std::string("cmux-preview-proxy ") + CMUX_VERSION);
  std::optional<std::string> listen;
  std::vector<std::string> routes;
  std::string upstream_proxy;
  bool no_http2 = false;
  bool no_tls_intercept = false;
  std::string ca_dir;
  std::vector<std::string> upstream_ca_files;
  std::vector<std::string> resolves;
  bool log = false;
  std::size_t threads = 1;
  http::Limits limits;

  app.add_option("--listen", listen,
                 "Listen address IP:PORT or [IPv6]:PORT, taken as is (port 0 = any free port; default "
                 "127.0.0.1 from port 39385 upward)");
  app.add_option("--route", routes,
                 "Preview URL to derive a context's route from, or 'none' for an unrouted context; "
                 "repeatable, one context each (webContentsId 1, 2, ...; default: one unrouted context)")
      ->allow_extra_args(false);
  app.add_option("--upstream-proxy", upstream_proxy, "cmux-proxy URL for routes without a cmuxProxyOrigin");
  app.add_flag("--no-http2", no_http2, "Never use HTTP/2 upstream");
  app.add_flag("--no-tls-intercept", no_tls_intercept,
               "Tunnel CONNECT to loopback through the cmux-proxy instead of terminating TLS "
               "(env CMUX_PREVIEW_TLS_MITM; default on)");
  app.add_option("--ca-dir", ca_dir, "Directory of the local CA (ca.key, ca.crt; default ~/.cmux/certs)");
  app.add_option("--upstream-ca", upstream_ca_files, "Extra PEM roots for upstream TLS; repeatable")
      ->allow_extra_args(false);
  app.add_option("--resolve", resolves, "Connect override HOST:PORT:IP:PORT (IPv6 in brackets); repeatable")
      ->allow_extra_args(false);
  app.add_flag("--log", log,
               "Write log events to stderr as JSON lines (env CMUX_PREVIEW_PROXY_LOG / "
               "CMUX_PREVIEW_PROXY_LOGGING)");
  app.add_option("--threads", threads, "I/O threads (default 1)")->check(CLI::Range(1, 256));
  apps::add_limit_options(app, limits);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints help/version (rc 0) or the error
    return rc == 0 ? 0 : 2;
  }

  preview::PreviewConfig config;
  config.limits = limits;
  // Printed and put into the proxy URLs; the port is filled in once bound.
  net::ListenAddr bound{"127.0.0.1", 0};
  if (listen) {
    const auto parsed = net::parse_listen_list({*listen});
    if (!parsed || parsed->size() != 1) {
      const std::string why =
          parsed ? "invalid --listen '" + *listen + "': expected one IP:PORT" : parsed.error();
      std::fprintf(stderr, "cmux-preview-proxy: %s\n", why.c_str());
      return 2;
    }
    bound.ip = parsed->front().ip;
    config.listen_addr = *listen;
  }

  // Each --route is one context; resolved before starting so a bad URL costs no listener.
  std::vector<std::optional<preview::Route>> context_routes;
  for (const std::string& url : routes) {
    if (url == "none") {
      context_routes.emplace_back(std::nullopt);
      continue;
    }
    std::optional<preview::Route> route = preview::derive_route(url);
    if (!route) {
      std::fprintf(stderr, "cmux-preview-proxy: --route %s: no route can be derived from this URL "
                           "(use --route none for an unrouted context)\n", url.c_str());
      return 2;
    }
    context_routes.push_back(std::move(route));
  }
  if (context_routes.empty()) context_routes.emplace_back(std::nullopt);

  config.upstream_proxy_url = upstream_proxy;
  config.enable_http2 = !no_http2;
  config.tls_intercept =
      !no_tls_intercept && preview::env_flag(std::getenv("CMUX_PREVIEW_TLS_MITM")).value_or(true);
  if (ca_dir.empty()) {
    std::optional<std::string> dir = default_ca_dir();
    if (!dir) {
      std::fprintf(stderr, "cmux-preview-proxy: no home directory; pass --ca-dir\n");
      return 2;
    }
    ca_dir = std::move(*dir);
  }
  config.ca_dir = ca_dir;
  for (const std::string& path : upstream_ca_files) {
    std::optional<std::string> pem = read_file(path);
    if (!pem) {
      std::fprintf(stderr, "cmux-preview-proxy: cannot read --upstream-ca %s\n", path.c_str());
      return 2;
    }
    config.upstream_ca_pems.push_back(std::move(*pem));
  }
  for (const std::string& value : resolves) {
    auto entry = preview::parse_resolve_flag(value);
    if (!entry) {
      std::fprintf(stderr, "cmux-preview-proxy: %s\n", entry.error().c_str());
      return 2;
    }
    config.resolve.insert_or_assign(std::move(entry->first), std::move(entry->second));
  }
  // The environment can only turn logging on: there is no flag to turn it off.
  const bool env_log = preview::env_flag(std::getenv("CMUX_PREVIEW_PROXY_LOG")).value_or(false) ||
                       preview::env_flag(std::getenv("CMUX_PREVIEW_PROXY_LOGGING")).value_or(false);
  if (log || env_log) config.log = write_log_event;
  config.threads = threads;

  // SIGINT/SIGTERM are blocked from here on, in every thread the server starts, and wait for
  // stop_signals.wait(): a parent may send SIGTERM as soon as it read our output.
  const net::StopSignals stop_signals;
  net::tune_heap();

  auto server = preview::PreviewServer::start(std::move(config));
  if (!server) {
    std::fprintf(stderr, "cmux-preview-proxy: cannot start: %s\n", server.error().message.c_str());
    return 1;
  }
  bound.port = (*server)->port();

  std::vector<std::shared_ptr<const preview::Context>> contexts;
  for (std::size_t i = 0; i < context_routes.size(); ++i) {
    auto context = (*server)->contexts().create(i + 1, std::nullopt, context_routes[i]);
    if (!context) {
      std::fprintf(stderr, "cmux-preview-proxy: cannot create context %zu: %s\n", i + 1,
                   context.error().c_str());
      (*server)->stop();
      return 1;
    }
    contexts.push_back(std::move(*context));
  }

  print_line("cmux-preview-proxy listening on " + bound.to_string());
  for (const auto& context : contexts) print_line(context_json(*context, bound));

  stop_signals.wait(std::chrono::seconds(10), net::trim_heap);
  (*server)->stop();
  return 0;
}
