// TLS client side for upstream connections: verification against the system roots plus
// extra PEM roots, SNI and host-name checks per connection, ALPN offered per connection.
#pragma once

#include <expected>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "net/asio.hpp"

namespace cmux::tls {

// The upstream client context, built on first use: a proxy that never dials TLS never pays
// for OpenSSL's SSL initialisation and a context (with the listener's leaf built lazily too,
// the preview proxy's idle RSS went from 11.2 to 10.3-10.5 MiB, docs/performance.md).
// Peer verification on; roots = the system store (looked up by subject hash, see
// add_system_roots) + every certificate of the extra PEMs, which `make` parses at once so
// a bad PEM is a start error, not a first-request error. Thread-safe.
class ClientContext {
 public:
  // Each string may hold several PEM certificates; the error says which one is bad.
  static std::expected<std::shared_ptr<ClientContext>, std::string> make(
      const std::vector<std::string>& extra_ca_pems);
  ~ClientContext();

  // The context (built by the first call); null only if OpenSSL cannot build one.
  std::shared_ptr<ssl::context> get();

 private:
  ClientContext() = default;
  std::vector<X509*> extra_roots_;
  std::once_flag once_;
  std::shared_ptr<ssl::context> ctx_;
};

// Adds the system roots to `store` without parsing the whole bundle at start: OpenSSL's
// hashed certificate directory (Debian's /etc/ssl/certs, kept by update-ca-certificates) is
// searched by subject hash when a chain needs a root, which saves ~1.4 MB against loading
// the 140-root bundle file. The bundle file is loaded only where the directory holds no
// hashed names. SSL_CERT_FILE and SSL_CERT_DIR are honoured as by
// SSL_CTX_set_default_verify_paths.
void add_system_roots(X509_STORE* store);

// Per-connection settings on a client SSL object before the handshake: SNI (names only, never
// IP literals, RFC 6066), the expected peer name or IP, and the ALPN protocols offered
// (wire format, e.g. "\x02h2\x08http/1.1"; empty = no ALPN). False on an OpenSSL failure.
bool prepare_client(SSL* ssl, const std::string& host, std::string_view alpn_wire);

}  // namespace cmux::tls
