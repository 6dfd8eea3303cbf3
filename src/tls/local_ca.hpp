// The local CA for TLS interception (SPEC §3 "Local CA"): loaded from / created in `caDir`, and
// leaf certificates per host minted on demand and kept in an LRU of TLS server contexts.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstddef>
#include <expected>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "net/asio.hpp"

namespace cmux::tls {

class LocalCa {
 public:
  using Warn = std::function<void(std::string_view)>;

  // Loads <dir>/ca.key (PEM private key, any type whose public key matches the certificate — the
  // RSA CA of the old Node.js proxy included) and <dir>/ca.crt (PEM, a CA certificate, not
  // expired), or creates them (dir created 0700 if missing; files written atomically, the key
  // 0600 from the start). Unreadable, corrupt or mismatched files, a non-CA or an expired
  // certificate are replaced by a new CA with one `warn` line saying why; a key file readable by
  // others is chmod'ed to 0600 with a warning. The error text (never an exception) is for what
  // cannot be worked around: the directory cannot be created or written, OpenSSL fails.
  // `capacity` = number of leaf contexts kept (LRU, at least 1).
  static std::expected<std::shared_ptr<LocalCa>, std::string> open(const std::string& dir, Warn warn = {},
                                                                   std::size_t capacity = 256);

  ~LocalCa();
  LocalCa(const LocalCa&) = delete;
  LocalCa& operator=(const LocalCa&) = delete;

  const std::string& certificate_pem() const { return cert_pem_; }
  // base64(SHA-256(DER SubjectPublicKeyInfo)): the format of Chromium's
  // --ignore-certificate-errors-spki-list.
  const std::string& spki_sha256_base64() const { return spki_sha256_; }

  // A TLS server context presenting a leaf for `host` (a DNS name, or an IPv4/IPv6 literal
  // without brackets → SAN IP) followed by the CA certificate, ALPN h2/http/1.1. Every leaf of
  // this instance uses one EC P-256 key made at open(). Cached per lower-cased host (IP literals
  // in canonical form). Safe from any thread; minting (one ECDSA signature) runs on the calling
  // thread outside the cache lock. Error text for an unusable host.
  std::expected<std::shared_ptr<ssl::context>, std::string> context_for(const std::string& host);

  // The listener's own context: SAN DNS:localhost, IP:127.0.0.1, IP:::1 (cached like the others).
  std::expected<std::shared_ptr<ssl::context>, std::string> listener_context();

  std::size_t cached() const;  // number of cached leaf contexts (tests)

 private:
  struct X509Free {
    void operator()(X509* p) const { X509_free(p); }
  };
  struct PkeyFree {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  };
  struct NameFree {
    void operator()(X509_NAME* p) const { X509_NAME_free(p); }
  };
  using Entry = std::pair<std::string, std::shared_ptr<ssl::context>>;
  enum class Kind { dns, ip, listener };

  LocalCa() = default;

  std::expected<std::shared_ptr<ssl::context>, std::string> cached_or_mint(const std::string& host, Kind kind);
  std::expected<std::shared_ptr<ssl::context>, std::string> mint(const std::string& host, Kind kind) const;

  // Immutable after open(): read concurrently by mint().
  std::unique_ptr<X509, X509Free> ca_cert_;
  std::unique_ptr<EVP_PKEY, PkeyFree> ca_key_;
  std::unique_ptr<X509_NAME, NameFree> ca_subject_;
  std::string ca_key_id_;  // the CA's subjectKeyIdentifier (or SHA-1 of its public key)
  long long ca_not_after_ = 0;  // seconds since the epoch
  std::unique_ptr<EVP_PKEY, PkeyFree> leaf_key_;
  std::string cert_pem_;
  std::string spki_sha256_;
  std::size_t capacity_ = 256;

  mutable std::mutex mutex_;  // guards lru_ and index_
  std::list<Entry> lru_;      // most recent first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace cmux::tls
