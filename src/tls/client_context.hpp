// TLS client side for upstream connections: verification against the system roots plus
// extra PEM roots, SNI and host-name checks per connection, ALPN offered per connection.
#pragma once

#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "net/asio.hpp"

namespace cmux::tls {

// Peer verification on; roots = the system store + every certificate in `extra_ca_pems`
// (each string may hold several PEM certificates). Error text says which PEM is bad.
std::expected<std::shared_ptr<ssl::context>, std::string> make_client_context(
    const std::vector<std::string>& extra_ca_pems);

// Per-connection settings on a client SSL object before the handshake: SNI (names only, never
// IP literals, RFC 6066), the expected peer name or IP, and the ALPN protocols offered
// (wire format, e.g. "\x02h2\x08http/1.1"; empty = no ALPN). False on an OpenSSL failure.
bool prepare_client(SSL* ssl, const std::string& host, std::string_view alpn_wire);

}  // namespace cmux::tls
