#include "tls/client_context.hpp"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <ranges>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace cmux::tls {

namespace {

// "5a1bd8c2.0": the subject-hash names OpenSSL's directory lookup opens.
bool is_hash_name(std::string_view name) {
  if (name.size() < 10 || name[8] != '.') return false;
  for (std::size_t i = 0; i < 8; ++i)
    if (!std::isxdigit(static_cast<unsigned char>(name[i]))) return false;
  for (std::size_t i = 9; i < name.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) return false;
  return true;
}

// True if any directory of the ':'-separated list holds a hashed certificate name.
bool has_hashed_roots(std::string_view dirs) {
  for (auto part : std::views::split(dirs, ':')) {
    std::error_code ec;
    std::filesystem::directory_iterator it(std::string_view(part.begin(), part.end()), ec), end;
    for (; !ec && it != end; it.increment(ec))
      if (is_hash_name(it->path().filename().native())) return true;
  }
  return false;
}

}  // namespace

void add_system_roots(X509_STORE* store) {
  const char* file_env = std::getenv(X509_get_default_cert_file_env());
  const char* dir_env = std::getenv(X509_get_default_cert_dir_env());
  const char* dir = dir_env ? dir_env : X509_get_default_cert_dir();
  if (file_env) X509_STORE_load_file(store, file_env);
  if (has_hashed_roots(dir)) X509_STORE_load_path(store, dir);
  else if (!file_env) X509_STORE_load_file(store, X509_get_default_cert_file());
  ERR_clear_error();  // a machine without a system store still works with explicit roots
}

std::expected<std::shared_ptr<ClientContext>, std::string> ClientContext::make(
    const std::vector<std::string>& extra_ca_pems) {
  std::shared_ptr<ClientContext> ctx(new ClientContext);
  for (std::size_t i = 0; i < extra_ca_pems.size(); ++i) {
    const auto& pem = extra_ca_pems[i];
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    std::size_t added = 0;
    while (X509* cert = bio ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr) : nullptr) {
      ctx->extra_roots_.push_back(cert);
      ++added;
    }
    BIO_free(bio);
    ERR_clear_error();  // the loop ends on "no start line"
    if (added == 0) return std::unexpected("upstreamCaCerts[" + std::to_string(i) + "] holds no PEM certificate");
  }
  return ctx;
}

ClientContext::~ClientContext() {
  for (X509* cert : extra_roots_) X509_free(cert);
}

std::shared_ptr<ssl::context> ClientContext::get() {
  std::call_once(once_, [this] {
    try {
      auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
      ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      SSL_CTX* raw = ctx->native_handle();
      SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, nullptr);
      X509_STORE* store = SSL_CTX_get_cert_store(raw);
      add_system_roots(store);
      // A root that is already in the store is fine (X509_STORE_add_cert ignores duplicates).
      for (X509* cert : extra_roots_) X509_STORE_add_cert(store, cert);
      ERR_clear_error();
      SSL_CTX_set_mode(raw, SSL_MODE_RELEASE_BUFFERS);
      ctx_ = std::move(ctx);
    } catch (const std::exception&) {  // asio throws when SSL_CTX_new fails (out of memory)
      ERR_clear_error();
    }
  });
  return ctx_;
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
