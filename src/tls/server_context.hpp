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

// Client context verifying against the system roots plus extra PEM roots; ALPN as given
// (e.g. {"h2", "http/1.1"}).
std::expected<std::shared_ptr<ssl::context>, std::string> make_client_context(const std::vector<std::string>& extra_ca_pems,
                                                                              const std::vector<std::string>& alpn);

}  // namespace cmux::tls
