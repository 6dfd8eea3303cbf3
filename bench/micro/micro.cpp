// Micro-benchmarks of the pure functions on every request's path (issue 6): what one call of
// routing, target rewriting, header stripping and ClientHello classification costs, on inputs
// shaped like real browser traffic. bench/run runs this binary and reports the numbers.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "http/message.hpp"
#include "preview/rewrite.hpp"
#include "preview/route.hpp"
#include "tls/client_hello.hpp"
#include "workspace/routing.hpp"

namespace {

using cmux::http::Field;
using cmux::http::Fields;
using cmux::http::RequestHead;

// What Chromium sends for a subresource of a Vite dev server, lower-cased as the codecs store it.
Fields browser_fields() {
  return {
      {"connection", "keep-alive"},
      {"sec-ch-ua", "\"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\""},
      {"sec-ch-ua-mobile", "?0"},
      {"user-agent",
       "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
       "Chrome/131.0.0.0 Safari/537.36"},
      {"sec-ch-ua-platform", "\"macOS\""},
      {"accept", "*/*"},
      {"sec-fetch-site", "same-origin"},
      {"sec-fetch-mode", "cors"},
      {"sec-fetch-dest", "script"},
      {"referer", "http://localhost:5173/"},
      {"accept-encoding", "gzip, deflate, br, zstd"},
      {"accept-language", "en-US,en;q=0.9"},
      {"cookie", "session=4f9d2c1ab7e34d0c9a8b6f1e2d3c4b5a; theme=dark"},
  };
}

RequestHead request_with(std::vector<Field> extra, std::string authority) {
  RequestHead req;
  req.method = "GET";
  req.scheme = "http";
  req.authority = std::move(authority);
  req.target = "/src/main.tsx?t=1732612345678";
  req.fields = browser_fields();
  for (auto& f : extra) req.fields.push_back(std::move(f));
  return req;
}

void BM_Route_PortHeader(benchmark::State& state) {
  const RequestHead req = request_with({{"x-cmux-port-internal", "5173"}}, "127.0.0.1:39379");
  const cmux::workspace::RouteConfig config;
  for (auto _ : state) benchmark::DoNotOptimize(cmux::workspace::route(req, config));
}
BENCHMARK(BM_Route_PortHeader);

void BM_Route_WorkspaceAndOverride(benchmark::State& state) {
  const RequestHead req = request_with({{"x-cmux-port-internal", "5173"},
                                        {"x-cmux-workspace-internal", "workspace-258"},
                                        {"x-cmux-host-override", "localhost:5173"}},
                                       "port-39379-morphvm-abc123.http.cloud.morph.so");
  const cmux::workspace::RouteConfig config;
  for (auto _ : state) benchmark::DoNotOptimize(cmux::workspace::route(req, config));
}
BENCHMARK(BM_Route_WorkspaceAndOverride);

void BM_Route_HostPattern(benchmark::State& state) {
  const RequestHead req = request_with({}, "my-workspace-5173.localhost:39379");
  const cmux::workspace::RouteConfig config{.allow_default_upstream = false};
  for (auto _ : state) benchmark::DoNotOptimize(cmux::workspace::route(req, config));
}
BENCHMARK(BM_Route_HostPattern);

// Copying the fields is what the handler does before stripping; measured alone as a baseline.
void BM_Fields_Copy(benchmark::State& state) {
  const Fields fields = request_with({{"x-cmux-port-internal", "5173"}}, "").fields;
  for (auto _ : state) {
    Fields copy = fields;
    benchmark::DoNotOptimize(copy.data());
  }
}
BENCHMARK(BM_Fields_Copy);

void BM_StripHopByHop_CopyAndStrip(benchmark::State& state) {
  const Fields fields = request_with({{"x-cmux-port-internal", "5173"},
                                      {"proxy-authorization", "Basic dXNlcjpwYXNz"},
                                      {"te", "trailers"}},
                                     "")
                            .fields;
  for (auto _ : state) {
    Fields copy = fields;
    cmux::http::strip_hop_by_hop(copy);
    cmux::http::strip_internal(copy);
    benchmark::DoNotOptimize(copy.data());
  }
}
BENCHMARK(BM_StripHopByHop_CopyAndStrip);

void BM_StripHopByHop_ConnectionList(benchmark::State& state) {
  Fields fields = browser_fields();
  fields[0].value = "keep-alive, x-trace, x-debug";
  fields.push_back({"x-trace", "1"});
  fields.push_back({"x-debug", "1"});
  for (auto _ : state) {
    Fields copy = fields;
    cmux::http::strip_hop_by_hop(copy);
    benchmark::DoNotOptimize(copy.data());
  }
}
BENCHMARK(BM_StripHopByHop_ConnectionList);

void BM_Rewrite_LoopbackToOrigin(benchmark::State& state) {
  const auto route =
      cmux::preview::derive_route("https://port-39379-morphvm-abc123.http.cloud.morph.so/");
  if (!route) {
    state.SkipWithError("derive_route failed");
    return;
  }
  for (auto _ : state) {
    auto target = cmux::preview::target_from_url("http://localhost:5173/src/main.tsx?t=1732612345678");
    benchmark::DoNotOptimize(cmux::preview::rewrite(*target, route, ""));
  }
}
BENCHMARK(BM_Rewrite_LoopbackToOrigin);

void BM_Rewrite_Passthrough(benchmark::State& state) {
  const auto route =
      cmux::preview::derive_route("https://port-39379-morphvm-abc123.http.cloud.morph.so/");
  for (auto _ : state) {
    auto target = cmux::preview::target_from_url("https://fonts.googleapis.com/css2?family=Inter");
    benchmark::DoNotOptimize(cmux::preview::rewrite(*target, route, ""));
  }
}
BENCHMARK(BM_Rewrite_Passthrough);

void BM_Rewrite_StripClientInternal(benchmark::State& state) {
  const Fields fields = request_with({{"x-cmux-port-internal", "1"}}, "").fields;
  for (auto _ : state) {
    Fields copy = fields;
    cmux::preview::strip_client_internal_headers(copy);
    benchmark::DoNotOptimize(copy.data());
  }
}
BENCHMARK(BM_Rewrite_StripClientInternal);

// A Chromium-like ClientHello: SNI, ALPN h2 + http/1.1, 16 cipher suites, the usual extensions
// and padding to 512 bytes, in one TLS record.
std::vector<std::uint8_t> client_hello(std::string_view sni) {
  std::vector<std::uint8_t> ext;
  auto u16 = [](std::vector<std::uint8_t>& v, std::size_t n) {
    v.push_back(static_cast<std::uint8_t>(n >> 8));
    v.push_back(static_cast<std::uint8_t>(n));
  };
  auto add_ext = [&](std::uint16_t type, const std::vector<std::uint8_t>& body) {
    u16(ext, type);
    u16(ext, body.size());
    ext.insert(ext.end(), body.begin(), body.end());
  };
  {  // server_name
    std::vector<std::uint8_t> b;
    u16(b, sni.size() + 3);
    b.push_back(0);
    u16(b, sni.size());
    b.insert(b.end(), sni.begin(), sni.end());
    add_ext(0x0000, b);
  }
  add_ext(0x0017, {});                                    // extended_master_secret
  add_ext(0xff01, {0});                                   // renegotiation_info
  add_ext(0x000a, {0, 6, 0, 0x1d, 0, 0x17, 0, 0x18});     // supported_groups
  add_ext(0x000b, {1, 0});                                // ec_point_formats
  add_ext(0x0023, {});                                    // session_ticket
  {  // ALPN
    std::vector<std::uint8_t> b{0, 12, 2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    add_ext(0x0010, b);
  }
  add_ext(0x0005, {1, 0, 0, 0, 0});                       // status_request
  add_ext(0x000d, {0, 8, 4, 3, 8, 4, 4, 1, 5, 3});        // signature_algorithms
  {  // key_share: x25519, 32 bytes
    std::vector<std::uint8_t> b{0, 36, 0, 0x1d, 0, 32};
    b.resize(b.size() + 32, 0x42);
    add_ext(0x0033, b);
  }
  add_ext(0x002d, {1, 1});                                // psk_key_exchange_modes
  add_ext(0x002b, {4, 3, 4, 3, 3});                       // supported_versions
  std::vector<std::uint8_t> body{3, 3};
  body.resize(body.size() + 32, 0x11);  // random
  body.push_back(32);
  body.resize(body.size() + 32, 0x22);  // session id
  u16(body, 32);
  for (std::uint16_t cs = 0; cs < 16; ++cs) u16(body, 0x1301 + cs);
  body.push_back(1);
  body.push_back(0);
  const std::size_t before_ext = body.size() + 2 + ext.size() + 4 + 4;
  if (before_ext < 512) {  // padding extension
    std::vector<std::uint8_t> pad(512 - before_ext, 0);
    add_ext(0x0015, pad);
  }
  u16(body, ext.size());
  body.insert(body.end(), ext.begin(), ext.end());
  std::vector<std::uint8_t> hs{1, 0, static_cast<std::uint8_t>(body.size() >> 8),
                               static_cast<std::uint8_t>(body.size())};
  hs.insert(hs.end(), body.begin(), body.end());
  std::vector<std::uint8_t> record{0x16, 3, 1};
  u16(record, hs.size());
  record.insert(record.end(), hs.begin(), hs.end());
  return record;
}

void BM_ClientHello_Chromium(benchmark::State& state) {
  const auto bytes = client_hello("localhost");
  const auto first = cmux::tls::parse_client_hello(bytes);
  if (!std::holds_alternative<cmux::tls::ClientHello>(first)) {
    state.SkipWithError("the generated ClientHello does not parse");
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(cmux::tls::parse_client_hello(bytes));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes.size()));
}
BENCHMARK(BM_ClientHello_Chromium);

void BM_ClientHello_NotTls(benchmark::State& state) {
  const std::string http = "GET / HTTP/1.1\r\nHost: localhost:5173\r\n\r\n";
  const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(http.data()),
                                            http.size());
  for (auto _ : state) benchmark::DoNotOptimize(cmux::tls::parse_client_hello(bytes));
}
BENCHMARK(BM_ClientHello_NotTls);

}  // namespace

BENCHMARK_MAIN();
