// TLS server contexts with ALPN h2 / http/1.1 (server preference: h2).
#pragma once

#include <expected>
#include <memory>
#include <string>

#include "net/asio.hpp"

namespace cmux::tls {

// Installs the ALPN select callback: h2 preferred, then http/1.1; no overlap → no ALPN (HTTP/1.1).
void enable_alpn_h2_http11(SSL_CTX* ctx);

// Loads a PEM certificate chain and private key. Error text names the failing file.
std::expected<std::shared_ptr<ssl::context>, std::string> make_server_context(const std::string& cert_file,
                                                                              const std::string& key_file);

}  // namespace cmux::tls
