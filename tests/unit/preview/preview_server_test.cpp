// In-process integration: a routed context without cmuxProxyOrigin sends its loopback
// requests to `upstreamProxyUrl`, a real cmux-proxy (WorkspaceHandler + http::Server), over
// HTTP/2 with prior knowledge (h2c) -- or HTTP/1.1 when HTTP/2 is disabled. The cmux-proxy
// forwards to an origin that echoes the Host it saw and whether internal headers leaked.
#include "preview/server.hpp"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>

#include "http/server.hpp"
#include "net/io_threads.hpp"
#include "workspace/handler.hpp"
#include "workspace/metrics.hpp"

namespace cmux::preview {
namespace {

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');  // + NUL written by OpenSSL
  const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                     reinterpret_cast<const unsigned char*>(bytes.data()),
                                     static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(length));
  return out;
}

// The origin: 200 with `<authority it saw>|clean` (or `|leaked` when an internal header
// reached it).
awaitable<void> origin_handle(http::Exchange& ex) {
  const http::RequestHead& req = ex.request();
  const bool leaked = http::find_field(req.fields, "x-cmux-port-internal").has_value() ||
                      http::find_field(req.fields, "x-cmux-host-override").has_value();
  const std::string body = req.authority + "|" + (leaked ? "leaked" : "clean");
  co_await http::respond_text(ex, 200, body);
}

struct Response {
  int status = 0;
  std::string head;
  std::string body;
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Decodes a chunked body; nullopt while incomplete.
std::optional<std::string> dechunk(std::string_view raw) {
  std::string out;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t eol = raw.find("\r\n", pos);
    if (eol == std::string_view::npos) return std::nullopt;
    const std::size_t size = std::strtoul(std::string(raw.substr(pos, eol - pos)).c_str(), nullptr, 16);
    pos = eol + 2;
    if (size == 0) return raw.find("\r\n", pos) == std::string_view::npos ? std::nullopt : std::optional(out);
    if (raw.size() < pos + size + 2) return std::nullopt;
    out.append(raw.substr(pos, size));
    pos += size + 2;
  }
}

// One request over a fresh blocking connection; reads until the response is complete (by
// Content-Length / chunked framing / EOF). SO_RCVTIMEO keeps a stuck proxy from hanging the test.
Response proxy_get(std::uint16_t proxy_port, const std::string& request) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::address_v4::loopback(), proxy_port));
  timeval tv{10, 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  asio::write(socket, asio::buffer(request));

  Response r;
  std::string raw;
  char buf[4096];
  for (;;) {
    const std::size_t end = raw.find("\r\n\r\n");
    if (end != std::string::npos) {
      r.head = raw.substr(0, end);
      const std::string head = lower(r.head);
      const std::string rest = raw.substr(end + 4);
      const std::size_t cl = head.find("\r\ncontent-length:");
      if (cl != std::string::npos) {
        const std::size_t n = std::strtoul(head.c_str() + cl + 17, nullptr, 10);
        if (rest.size() >= n) {
          r.body = rest.substr(0, n);
          break;
        }
      } else if (head.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
        if (auto body = dechunk(rest)) {
          r.body = *body;
          break;
        }
      }
    }
    const ssize_t n = ::recv(socket.native_handle(), buf, sizeof buf, 0);
    if (n <= 0) {  // EOF (or timeout / error: the checks below fail)
      if (end != std::string::npos && r.body.empty()) r.body = raw.substr(end + 4);
      break;
    }
    raw.append(buf, static_cast<std::size_t>(n));
  }
  if (raw.starts_with("HTTP/1.1 ") && raw.size() >= 12) r.status = std::atoi(raw.substr(9, 3).c_str());
  return r;
}

// Waits (without sleeping) until `done` holds: each round trip through the I/O thread lets it
// make progress. The cmux-proxy counts a request only after its response is finished, so the
// client may see the response a moment before the counter moves.
bool wait_until(net::IoThreads& io, const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    auto promise = std::make_shared<std::promise<void>>();
    std::future<void> future = promise->get_future();
    asio::post(io.context(0), [promise] { promise->set_value(); });
    future.wait_for(std::chrono::seconds(1));
  }
  return true;
}

class PreviewServerUpstreamProxy : public ::testing::Test {
 protected:
  void SetUp() override {
    log_level_ = spdlog::get_level();
    spdlog::set_level(spdlog::level::warn);  // no access log per request
    char tmpl[] = "/tmp/cmux-preview-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    ca_dir_ = tmpl;

    origin_ = std::make_unique<http::Server>(origin_io_, http::Handler(&origin_handle), http::ServerOptions{});
    auto origin_ep = origin_->listen(tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    ASSERT_TRUE(origin_ep) << origin_ep.error().message();
    origin_port_ = origin_ep->port();
    origin_->start();
    origin_io_.start();

    auto config = std::make_shared<workspace::HandlerConfig>();
    config->route.default_upstream_host = "127.0.0.1";
    config->route.allow_default_upstream = true;
    handler_ = std::make_unique<workspace::WorkspaceHandler>(config, cmux_io_, metrics_);
    http::ServerOptions options;
    options.limits = config->limits;
    cmux_ = std::make_unique<http::Server>(
        cmux_io_, [h = handler_.get()](http::Exchange& ex) { return h->handle(ex); }, options);
    auto cmux_ep = cmux_->listen(tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    ASSERT_TRUE(cmux_ep) << cmux_ep.error().message();
    cmux_port_ = cmux_ep->port();
    cmux_->start();
    cmux_io_.start();
  }

  void start_preview(bool enable_http2) {
    PreviewConfig config;
    config.listen_addr = "127.0.0.1:0";
    config.upstream_proxy_url = "http://127.0.0.1:" + std::to_string(cmux_port_);
    config.enable_http2 = enable_http2;
    config.threads = 1;
    config.ca_dir = ca_dir_;
    auto started = PreviewServer::start(std::move(config));
    ASSERT_TRUE(started) << started.error().message;
    preview_ = std::move(*started);
    auto context = preview_->contexts().create(1, std::nullopt, Route{"abc", "base", "cmux.app", "", std::nullopt});
    ASSERT_TRUE(context) << context.error();
    const std::string auth = base64((*context)->username + ":" + (*context)->password);
    const std::string host = "localhost:" + std::to_string(origin_port_);
    request_ = "GET http://" + host + "/x HTTP/1.1\r\nHost: " + host + "\r\nProxy-Authorization: Basic " + auth +
               "\r\nConnection: close\r\n\r\n";
  }

  void TearDown() override {
    if (preview_) preview_->stop();
    if (cmux_) cmux_->terminate();
    cmux_io_.stop();
    cmux_io_.join();
    if (origin_) origin_->terminate();
    origin_io_.stop();
    origin_io_.join();
    cmux_.reset();
    origin_.reset();
    if (!ca_dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(ca_dir_, ec);
    }
    spdlog::set_level(log_level_);
  }

  void expect_ok(const Response& r) {
    EXPECT_EQ(r.status, 200) << r.head;
    EXPECT_EQ(r.body, "localhost:" + std::to_string(origin_port_) + "|clean") << r.head;
  }

  std::uint64_t count(int proto, int status) const {
    return metrics_.requests[proto][status - 100].load();
  }

  spdlog::level::level_enum log_level_ = spdlog::level::info;
  std::string ca_dir_;
  net::IoThreads origin_io_{1};
  net::IoThreads cmux_io_{1};
  workspace::Metrics metrics_;
  std::unique_ptr<http::Server> origin_;
  std::unique_ptr<workspace::WorkspaceHandler> handler_;
  std::unique_ptr<http::Server> cmux_;
  std::uint16_t origin_port_ = 0;
  std::uint16_t cmux_port_ = 0;
  std::unique_ptr<PreviewServer> preview_;
  std::string request_;
};

TEST_F(PreviewServerUpstreamProxy, RoutesThroughCmuxProxyOverH2cPriorKnowledge) {
  start_preview(true);
  ASSERT_TRUE(preview_);
  expect_ok(proxy_get(preview_->port(), request_));
  ASSERT_TRUE(wait_until(cmux_io_, [&] { return count(1, 200) + count(0, 200) >= 1; }));
  EXPECT_EQ(count(1, 200), 1u);  // the upstream hop was HTTP/2
  EXPECT_EQ(count(0, 200), 0u);
  EXPECT_EQ(preview_->stats().upstream_connections, 1u);
  EXPECT_EQ(preview_->stats().upstream_sessions, 1u);

  for (int i = 0; i < 20; ++i) expect_ok(proxy_get(preview_->port(), request_));
  ASSERT_TRUE(wait_until(cmux_io_, [&] { return count(1, 200) + count(0, 200) >= 21; }));
  EXPECT_EQ(count(1, 200), 21u);
  EXPECT_EQ(count(0, 200), 0u);
  EXPECT_EQ(preview_->stats().upstream_connections, 1u);  // one h2c session carries them all
  EXPECT_EQ(preview_->stats().upstream_sessions, 1u);
}

TEST_F(PreviewServerUpstreamProxy, Http2DisabledUsesHttp11Upstream) {
  start_preview(false);
  ASSERT_TRUE(preview_);
  for (int i = 0; i < 3; ++i) expect_ok(proxy_get(preview_->port(), request_));
  ASSERT_TRUE(wait_until(cmux_io_, [&] { return count(1, 200) + count(0, 200) >= 3; }));
  EXPECT_EQ(count(0, 200), 3u);
  EXPECT_EQ(count(1, 200), 0u);
  EXPECT_EQ(preview_->stats().upstream_sessions, 0u);
}

}  // namespace
}  // namespace cmux::preview
