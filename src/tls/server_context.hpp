// TLS server contexts with ALPN h2 / http/1.1 (server preference: h2).
#pragma once

#include <expected>
#include <memory>
#include <string>

#include "net/asio.hpp"

namespace cmux::tls {

// Loads a PEM certificate chain and private key. Error text names the failing file.
std::expected<std::shared_ptr<ssl::context>, std::string> make_server_context(const std::string& cert_file,
                                                                              const std::string& key_file);

}  // namespace cmux::tls
