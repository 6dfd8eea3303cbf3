#include "tls/client_context.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace cmux::tls {

std::expected<std::shared_ptr<ssl::context>, std::string> make_client_context(
    const std::vector<std::string>& extra_ca_pems) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  SSL_CTX* raw = ctx->native_handle();
  SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, nullptr);
  // A machine without a system store still works with explicit roots.
  SSL_CTX_set_default_verify_paths(raw);
  X509_STORE* store = SSL_CTX_get_cert_store(raw);
  for (std::size_t i = 0; i < extra_ca_pems.size(); ++i) {
    const auto& pem = extra_ca_pems[i];
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    int added = 0;
    while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
      // A root that is already in the store is fine (X509_STORE_add_cert ignores duplicates).
      X509_STORE_add_cert(store, cert);
      X509_free(cert);
      ++added;
    }
    BIO_free(bio);
    ERR_clear_error();  // the loop ends on "no start line"
    if (added == 0) return std::unexpected("upstreamCaCerts[" + std::to_string(i) + "] holds no PEM certificate");
  }
  SSL_CTX_set_mode(raw, SSL_MODE_RELEASE_BUFFERS);
  return ctx;
}

bool prepare_client(SSL* ssl, const std::string& host, std::string_view alpn_wire) {
  error_code ec;
  asio::ip::make_address(host, ec);
  if (ec) {  // a name, not an IP literal
    if (SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) return false;
    if (SSL_set1_host(ssl, host.c_str()) != 1) return false;
  } else {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1) return false;
  }
  if (!alpn_wire.empty() &&
      SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(alpn_wire.data()),
                          static_cast<unsigned>(alpn_wire.size())) != 0)
    return false;
  return true;
}

}  // namespace cmux::tls
