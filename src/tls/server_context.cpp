#include "tls/server_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstring>

namespace cmux::tls {
namespace {

int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void*) {
  static const unsigned char kServerPrefs[] = "\x02h2\x08http/1.1";
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kServerPrefs, sizeof(kServerPrefs) - 1, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;  // no overlap: continue without ALPN (HTTP/1.1)
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

std::string openssl_error() {
  char buf[256];
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  return buf;
}

}  // namespace

void enable_alpn_h2_http11(SSL_CTX* ctx) { SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr); }

std::expected<std::shared_ptr<ssl::context>, std::string> make_server_context(const std::string& cert_file,
                                                                              const std::string& key_file) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  SSL_CTX* raw = ctx->native_handle();
  if (SSL_CTX_use_certificate_chain_file(raw, cert_file.c_str()) != 1)
    return std::unexpected("cannot load certificate " + cert_file + ": " + openssl_error());
  if (SSL_CTX_use_PrivateKey_file(raw, key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    return std::unexpected("cannot load private key " + key_file + ": " + openssl_error());
  if (SSL_CTX_check_private_key(raw) != 1)
    return std::unexpected("private key " + key_file + " does not match certificate " + cert_file);
  enable_alpn_h2_http11(raw);
  SSL_CTX_set_mode(raw, SSL_MODE_RELEASE_BUFFERS);
  return ctx;
}

}  // namespace cmux::tls
