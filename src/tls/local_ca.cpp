#include "tls/local_ca.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <utility>

#include "tls/server_context.hpp"

namespace cmux::tls {
namespace {

constexpr const char* kCaCommonName = "Cmux Preview Proxy CA";
constexpr const char* kLeafOrganization = "Cmux Preview Proxy";
// RFC 5280 name constraints: DNS "localhost" also permits its subdomains; ".x" only subdomains.
constexpr const char* kNameConstraints =
    "critical,permitted;DNS:localhost,permitted;DNS:.localhost,permitted;DNS:.cmux.local,"
    "permitted;DNS:.manaflow.local,permitted;IP:127.0.0.0/255.0.0.0,"
    "permitted;IP:::1/ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
constexpr long kCaDays = 3652;         // 10 years
constexpr long kLeafDays = 397;        // notAfter - notBefore, the CA/Browser Forum maximum
constexpr long kBackdateSeconds = 3600;  // notBefore = now - 1 h (clock skew)
constexpr std::size_t kMaxFileBytes = 1 << 20;
constexpr std::string_view kListenerKey = "*listener";  // never a valid host

struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct ExtFree {
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
struct GenNamesFree {
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};
struct AkidFree {
  void operator()(AUTHORITY_KEYID* p) const { AUTHORITY_KEYID_free(p); }
};
struct OctetFree {
  void operator()(ASN1_OCTET_STRING* p) const { ASN1_OCTET_STRING_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
using X509Ptr = std::unique_ptr<X509, decltype([](X509* p) { X509_free(p); })>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype([](EVP_PKEY* p) { EVP_PKEY_free(p); })>;

std::string openssl_error() {
  unsigned long code = ERR_peek_last_error();
  std::string text = "unknown OpenSSL error";
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    text = buf;
  }
  ERR_clear_error();
  return text;
}

std::string errno_text(int err) { return std::strerror(err); }

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd& operator=(Fd&&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// ---- files ---------------------------------------------------------------------------------

// mkdir -p with mode 0700 for every directory created.
std::expected<void, std::string> ensure_dir(const std::string& dir) {
  if (dir.empty()) return std::unexpected(std::string("caDir is empty"));
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return std::unexpected(dir + " is not a directory");
    return {};
  }
  for (std::size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    std::string prefix = dir.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST)
      return std::unexpected("cannot create " + prefix + ": " + errno_text(errno));
  }
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return std::unexpected("cannot create " + dir + ": " + errno_text(errno));
  ::chmod(dir.c_str(), 0700);  // mkdir's mode went through the umask
  return {};
}

struct FileRead {
  std::string data;
  mode_t mode = 0;
  bool missing = false;
  std::string error;  // set when present but unreadable
};

FileRead read_file(const std::string& path) {
  FileRead out;
  // O_NONBLOCK: a FIFO in place of the file must not hang the start.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    if (errno == ENOENT) out.missing = true;
    else out.error = errno_text(errno);
    return out;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    out.error = errno_text(errno);
    return out;
  }
  if (!S_ISREG(st.st_mode)) {
    out.error = "not a regular file";
    return out;
  }
  out.mode = st.st_mode & 07777;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      out.error = errno_text(errno);
      return out;
    }
    if (n == 0) break;
    out.data.append(buf, static_cast<std::size_t>(n));
    if (out.data.size() > kMaxFileBytes) {
      out.error = "larger than 1 MiB";
      return out;
    }
  }
  return out;
}

// A temporary file in the target's directory (mkstemp: mode 0600 from the start), then fchmod to
// `mode`, fsync and rename. Returns the temporary path to rename later, so that two files can be
// swapped in one after the other.
std::expected<std::string, std::string> write_temp(const std::string& path, const std::string& data, mode_t mode) {
  std::string tmp = path + ".tmp-XXXXXX";
  Fd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (fd.get() < 0) return std::unexpected("cannot create a file next to " + path + ": " + errno_text(errno));
  auto fail = [&](const char* what) -> std::expected<std::string, std::string> {
    std::string text = std::string("cannot ") + what + " " + tmp + ": " + errno_text(errno);
    ::unlink(tmp.c_str());
    return std::unexpected(text);
  };
  if (::fchmod(fd.get(), mode) != 0) return fail("chmod");
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write");
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail("sync");
  if (::close(fd.release()) != 0) return fail("close");
  return tmp;
}

// Serializes CA creation between processes sharing caDir. Best effort: no lock, no wait.
Fd lock_dir(const std::string& dir) {
  Fd fd(::open((dir + "/.ca.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (fd.get() >= 0) {
    while (::flock(fd.get(), LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  return fd;
}

// ---- OpenSSL helpers -----------------------------------------------------------------------

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

int no_password(char*, int, int, void*) { return -1; }  // an encrypted key is unusable, never prompt

bool add_conf_ext(X509* cert, X509V3_CTX* v3, int nid, const char* value) {
  std::unique_ptr<X509_EXTENSION, ExtFree> ext(X509V3_EXT_conf_nid(nullptr, v3, nid, value));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

bool add_key_id(X509* cert, int nid, const std::string& id) {
  std::unique_ptr<ASN1_OCTET_STRING, OctetFree> oct(ASN1_OCTET_STRING_new());
  if (!oct || ASN1_OCTET_STRING_set(oct.get(), reinterpret_cast<const unsigned char*>(id.data()),
                                    static_cast<int>(id.size())) != 1)
    return false;
  if (nid == NID_subject_key_identifier) return X509_add1_ext_i2d(cert, nid, oct.get(), 0, X509V3_ADD_DEFAULT) == 1;
  std::unique_ptr<AUTHORITY_KEYID, AkidFree> akid(AUTHORITY_KEYID_new());
  if (!akid) return false;
  akid->keyid = oct.release();
  return X509_add1_ext_i2d(cert, nid, akid.get(), 0, X509V3_ADD_DEFAULT) == 1;
}

// SHA-1 of the subjectPublicKey BIT STRING (RFC 5280 §4.2.1.2 method 1).
std::string pubkey_key_id(const X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_pubkey_digest(cert, EVP_sha1(), md, &len) != 1) return {};
  return std::string(reinterpret_cast<const char*>(md), len);
}

bool set_random_serial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return false;
  bytes[sizeof bytes - 1] |= 1;  // never zero (RFC 5280: positive); 17 DER bytes at most
  std::unique_ptr<BIGNUM, BnFree> bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  return bn && BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) != nullptr;
}

bool set_validity(X509* cert, std::time_t not_before, std::time_t not_after) {
  return ASN1_TIME_set(X509_getm_notBefore(cert), not_before) != nullptr &&
         ASN1_TIME_set(X509_getm_notAfter(cert), not_after) != nullptr;
}

const EVP_MD* digest_for(EVP_PKEY* key) {
  int id = EVP_PKEY_get_base_id(key);
  return (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) ? nullptr : EVP_sha256();
}

PkeyPtr make_p256_key() { return PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")); }

std::expected<std::pair<PkeyPtr, X509Ptr>, std::string> create_ca() {
  PkeyPtr key = make_p256_key();
  if (!key) return std::unexpected("cannot generate the CA key: " + openssl_error());
  X509Ptr cert(X509_new());
  if (!cert) return std::unexpected("X509_new: " + openssl_error());
  std::time_t now = std::time(nullptr);
  X509_NAME* name = X509_get_subject_name(cert.get());
  bool ok = X509_set_version(cert.get(), X509_VERSION_3) == 1 && set_random_serial(cert.get()) &&
            X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                       reinterpret_cast<const unsigned char*>(kCaCommonName), -1, -1, 0) == 1 &&
            X509_set_issuer_name(cert.get(), name) == 1 &&
            set_validity(cert.get(), now - kBackdateSeconds, now + kCaDays * 86400) &&
            X509_set_pubkey(cert.get(), key.get()) == 1;
  if (ok) {
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, cert.get(), cert.get(), nullptr, nullptr, 0);
    std::string ski = pubkey_key_id(cert.get());
    ok = !ski.empty() && add_conf_ext(cert.get(), &v3, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
         add_conf_ext(cert.get(), &v3, NID_key_usage, "critical,keyCertSign,cRLSign") &&
         add_key_id(cert.get(), NID_subject_key_identifier, ski) &&
         add_conf_ext(cert.get(), &v3, NID_name_constraints, kNameConstraints) &&
         X509_sign(cert.get(), key.get(), EVP_sha256()) > 0;
  }
  if (!ok) return std::unexpected("cannot create the CA certificate: " + openssl_error());
  return std::pair{std::move(key), std::move(cert)};
}

// Why a loaded pair is unusable, or empty.
std::string check_pair(X509* cert, EVP_PKEY* key) {
  if (X509_check_private_key(cert, key) != 1) {
    ERR_clear_error();
    return "ca.key does not match ca.crt";
  }
  if (X509_check_ca(cert) != 1) return "ca.crt is not a CA certificate (basicConstraints CA:TRUE, keyCertSign)";
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) return "ca.crt has expired";
  return {};
}

// ---- hosts ---------------------------------------------------------------------------------

struct Host {
  std::string name;  // lower-cased DNS name or canonical IP text
  bool ip = false;
};

std::expected<Host, std::string> normalize_host(const std::string& host) {
  if (host.empty()) return std::unexpected(std::string("empty host"));
  if (host.size() > 253) return std::unexpected(std::string("host longer than 253 bytes"));
  Host out;
  out.name.reserve(host.size());
  bool colon = false;
  for (char c : host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
              c == '_' || c == ':';
    if (!ok) return std::unexpected("host has a byte outside [A-Za-z0-9.-_:]: " + host);
    colon = colon || c == ':';
    out.name.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  unsigned char addr[16];
  char text[INET6_ADDRSTRLEN];
  if (colon) {
    if (::inet_pton(AF_INET6, out.name.c_str(), addr) != 1 || !::inet_ntop(AF_INET6, addr, text, sizeof text))
      return std::unexpected("host is not a valid IPv6 address: " + host);
    out.name = text;
    out.ip = true;
    return out;
  }
  if (::inet_pton(AF_INET, out.name.c_str(), addr) == 1 && ::inet_ntop(AF_INET, addr, text, sizeof text)) {
    out.name = text;
    out.ip = true;
    return out;
  }
  if (out.name.size() > 1 && out.name.back() == '.') out.name.pop_back();  // "localhost." = "localhost"
  if (out.name.front() == '.' || out.name.back() == '.' || out.name.find("..") != std::string::npos)
    return std::unexpected("host has an empty label: " + host);
  return out;
}

bool add_general_name(GENERAL_NAMES* names, const std::string& value, bool ip) {
  GENERAL_NAME* gn = GENERAL_NAME_new();
  if (!gn) return false;
  if (ip) {
    ASN1_OCTET_STRING* oct = a2i_IPADDRESS(value.c_str());
    if (!oct) {
      GENERAL_NAME_free(gn);
      return false;
    }
    GENERAL_NAME_set0_value(gn, GEN_IPADD, oct);
  } else {
    ASN1_IA5STRING* ia5 = ASN1_IA5STRING_new();
    if (!ia5 || ASN1_STRING_set(ia5, value.data(), static_cast<int>(value.size())) != 1) {
      ASN1_IA5STRING_free(ia5);
      GENERAL_NAME_free(gn);
      return false;
    }
    GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
  }
  if (sk_GENERAL_NAME_push(names, gn) <= 0) {
    GENERAL_NAME_free(gn);
    return false;
  }
  return true;
}

}  // namespace

// ---- LocalCa -------------------------------------------------------------------------------

LocalCa::~LocalCa() = default;

std::expected<std::shared_ptr<LocalCa>, std::string> LocalCa::open(const std::string& dir_in, Warn warn,
                                                                   std::size_t capacity) {
  auto say = [&](const std::string& line) {
    if (warn) warn(line);
  };
  std::string dir = dir_in;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (auto made = ensure_dir(dir); !made) return std::unexpected("local CA: " + made.error());
  Fd lock = lock_dir(dir);
  const std::string key_path = dir + "/ca.key";
  const std::string cert_path = dir + "/ca.crt";

  std::shared_ptr<LocalCa> ca(new LocalCa());
  ca->capacity_ = std::max<std::size_t>(capacity, 1);
  ca->leaf_key_.reset(make_p256_key().release());
  if (!ca->leaf_key_) return std::unexpected("local CA: cannot generate the leaf key: " + openssl_error());

  // Everything mint() needs, cached so that minting only reads shared objects.
  auto adopt = [&](PkeyPtr key, X509Ptr cert) -> std::string {
    ca->ca_key_.reset(key.release());
    ca->ca_cert_.reset(cert.release());
    X509* c = ca->ca_cert_.get();
    ca->ca_subject_.reset(X509_NAME_dup(X509_get_subject_name(c)));
    const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(c);
    ca->ca_key_id_ = ski ? std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(ski)),
                                       static_cast<std::size_t>(ASN1_STRING_length(ski)))
                         : pubkey_key_id(c);
    struct tm tm {};
    if (!ca->ca_subject_ || ca->ca_key_id_.empty() || ASN1_TIME_to_tm(X509_get0_notAfter(c), &tm) != 1)
      return "cannot read ca.crt: " + openssl_error();
    ca->ca_not_after_ = timegm(&tm);
    std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_X509(bio.get(), c) != 1) return "cannot encode ca.crt: " + openssl_error();
    ca->cert_pem_ = bio_string(bio.get());
    unsigned char* der = nullptr;
    int der_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(c), &der);
    if (der_len <= 0) return "cannot encode the CA public key: " + openssl_error();
    unsigned char digest[32];
    unsigned int digest_len = 0;
    bool hashed = EVP_Digest(der, static_cast<std::size_t>(der_len), digest, &digest_len, EVP_sha256(), nullptr) == 1;
    OPENSSL_free(der);
    if (!hashed) return "cannot hash the CA public key: " + openssl_error();
    char b64[64];
    int b64_len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64), digest, static_cast<int>(digest_len));
    ca->spki_sha256_.assign(b64, static_cast<std::size_t>(b64_len));
    // A trial leaf: the key can sign, and the signature verifies with the certificate.
    auto trial = ca->mint(std::string(kListenerKey), Kind::listener);
    if (!trial) return trial.error();
    return {};
  };

  // 1. Reuse what is there.
  FileRead key_file = read_file(key_path);
  FileRead cert_file = read_file(cert_path);
  std::string why;
  if (key_file.missing && cert_file.missing) {
    why.clear();  // first run: nothing to say
  } else if (!key_file.error.empty()) {
    why = key_path + " is unreadable (" + key_file.error + ")";
  } else if (!cert_file.error.empty()) {
    why = cert_path + " is unreadable (" + cert_file.error + ")";
  } else if (key_file.missing) {
    why = key_path + " is missing";
  } else if (cert_file.missing) {
    why = cert_path + " is missing";
  } else {
    std::unique_ptr<BIO, BioFree> kb(BIO_new_mem_buf(key_file.data.data(), static_cast<int>(key_file.data.size())));
    PkeyPtr key(kb ? PEM_read_bio_PrivateKey(kb.get(), nullptr, no_password, nullptr) : nullptr);
    std::unique_ptr<BIO, BioFree> cb(
        BIO_new_mem_buf(cert_file.data.data(), static_cast<int>(cert_file.data.size())));
    X509Ptr cert(cb ? PEM_read_bio_X509(cb.get(), nullptr, no_password, nullptr) : nullptr);
    ERR_clear_error();
    if (!key) why = key_path + " is not an unencrypted PEM private key";
    else if (!cert) why = cert_path + " is not a PEM certificate";
    else if (std::string bad = check_pair(cert.get(), key.get()); !bad.empty()) why = dir + ": " + bad;
    else if (std::string bad = adopt(std::move(key), std::move(cert)); !bad.empty()) why = dir + ": " + bad;
    if (why.empty()) {
      if ((key_file.mode & 077) != 0) {
        char mode[16];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(key_file.mode));
        if (::chmod(key_path.c_str(), 0600) == 0)
          say("local CA: " + key_path + " had mode " + mode + "; changed to 0600");
        else
          say("local CA: " + key_path + " has mode " + mode + " and cannot be changed to 0600: " + errno_text(errno));
      }
      return ca;
    }
  }

  // 2. A new CA.
  if (!why.empty()) say("local CA: " + why + "; creating a new CA");
  auto created = create_ca();
  if (!created) return std::unexpected("local CA: " + created.error());
  std::string key_pem;
  std::string cert_pem;
  {
    std::unique_ptr<BIO, BioFree> kb(BIO_new(BIO_s_mem()));
    std::unique_ptr<BIO, BioFree> cb(BIO_new(BIO_s_mem()));
    if (!kb || !cb ||
        PEM_write_bio_PrivateKey(kb.get(), created->first.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
        PEM_write_bio_X509(cb.get(), created->second.get()) != 1)
      return std::unexpected("local CA: cannot encode the new CA: " + openssl_error());
    key_pem = bio_string(kb.get());
    cert_pem = bio_string(cb.get());
  }
  if (std::string bad = adopt(std::move(created->first), std::move(created->second)); !bad.empty())
    return std::unexpected("local CA: " + bad);
  auto key_tmp = write_temp(key_path, key_pem, 0600);
  if (!key_tmp) return std::unexpected("local CA: " + key_tmp.error());
  auto cert_tmp = write_temp(cert_path, cert_pem, 0644);
  if (!cert_tmp) {
    ::unlink(key_tmp->c_str());
    return std::unexpected("local CA: " + cert_tmp.error());
  }
  // Key first: a crash in between leaves a mismatched pair, which the next start replaces.
  if (::rename(key_tmp->c_str(), key_path.c_str()) != 0) {
    std::string text = "local CA: cannot write " + key_path + ": " + errno_text(errno);
    ::unlink(key_tmp->c_str());
    ::unlink(cert_tmp->c_str());
    return std::unexpected(text);
  }
  if (::rename(cert_tmp->c_str(), cert_path.c_str()) != 0) {
    std::string text = "local CA: cannot write " + cert_path + ": " + errno_text(errno);
    ::unlink(cert_tmp->c_str());
    return std::unexpected(text);
  }
  if (Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)); d.get() >= 0) ::fsync(d.get());
  return ca;
}

std::expected<std::shared_ptr<ssl::context>, std::string> LocalCa::context_for(const std::string& host) {
  auto normalized = normalize_host(host);
  if (!normalized) return std::unexpected(normalized.error());
  return cached_or_mint(normalized->name, normalized->ip ? Kind::ip : Kind::dns);
}

std::expected<std::shared_ptr<ssl::context>, std::string> LocalCa::listener_context() {
  return cached_or_mint(std::string(kListenerKey), Kind::listener);
}

std::size_t LocalCa::cached() const {
  std::lock_guard lock(mutex_);
  return lru_.size();
}

// `host` is the cache key too: lower-cased names, canonical IPs and kListenerKey never collide.
std::expected<std::shared_ptr<ssl::context>, std::string> LocalCa::cached_or_mint(const std::string& host,
                                                                                  Kind kind) {
  const std::string& key = host;
  {
    std::lock_guard lock(mutex_);
    if (auto it = index_.find(key); it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->second;
    }
  }
  auto minted = mint(host, kind);
  if (!minted) return minted;
  std::lock_guard lock(mutex_);
  if (auto it = index_.find(key); it != index_.end()) {  // another thread was faster: one context per host
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
  }
  lru_.emplace_front(key, *minted);
  index_.emplace(key, lru_.begin());
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
  return minted;
}

std::expected<std::shared_ptr<ssl::context>, std::string> LocalCa::mint(const std::string& host, Kind kind) const {
  X509Ptr leaf(X509_new());
  std::unique_ptr<GENERAL_NAMES, GenNamesFree> names(sk_GENERAL_NAME_new_null());
  if (!leaf || !names) return std::unexpected("cannot mint a certificate: " + openssl_error());
  const bool ip = kind == Kind::ip;
  std::string cn;
  bool ok = true;
  if (kind == Kind::listener) {
    cn = "localhost";
    ok = add_general_name(names.get(), "localhost", false) && add_general_name(names.get(), "127.0.0.1", true) &&
         add_general_name(names.get(), "::1", true);
  } else {
    // An IP in the CN would be checked against the CA's DNS name constraints by OpenSSL
    // (X509_verify_cert treats a dotted CN as a DNS name when there is no DNS SAN): no CN then.
    if (!ip && host.size() <= 64) cn = host;  // ub-common-name
    ok = add_general_name(names.get(), host, ip);
  }
  X509_NAME* subject = X509_get_subject_name(leaf.get());
  if (ok) {
    ok = cn.empty() ? X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC,
                                                 reinterpret_cast<const unsigned char*>(kLeafOrganization), -1, -1,
                                                 0) == 1
                    : X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0) == 1;
  }
  std::time_t not_before = std::time(nullptr) - kBackdateSeconds;
  std::time_t not_after = std::min<std::time_t>(not_before + kLeafDays * 86400, ca_not_after_);
  ok = ok && X509_set_version(leaf.get(), X509_VERSION_3) == 1 && set_random_serial(leaf.get()) &&
       X509_set_issuer_name(leaf.get(), ca_subject_.get()) == 1 && set_validity(leaf.get(), not_before, not_after) &&
       X509_set_pubkey(leaf.get(), leaf_key_.get()) == 1;
  if (ok) {
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, nullptr, leaf.get(), nullptr, nullptr, 0);
    std::string ski = pubkey_key_id(leaf.get());
    ok = !ski.empty() && add_conf_ext(leaf.get(), &v3, NID_basic_constraints, "critical,CA:FALSE") &&
         add_conf_ext(leaf.get(), &v3, NID_key_usage, "critical,digitalSignature") &&
         add_conf_ext(leaf.get(), &v3, NID_ext_key_usage, "serverAuth") &&
         X509_add1_ext_i2d(leaf.get(), NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) == 1 &&
         add_key_id(leaf.get(), NID_subject_key_identifier, ski) &&
         add_key_id(leaf.get(), NID_authority_key_identifier, ca_key_id_) &&
         X509_sign(leaf.get(), ca_key_.get(), digest_for(ca_key_.get())) > 0;
  }
  if (!ok) return std::unexpected("cannot mint a certificate for " + host + ": " + openssl_error());
  if (X509_verify(leaf.get(), X509_get0_pubkey(ca_cert_.get())) != 1)
    return std::unexpected("a certificate signed with ca.key does not verify with ca.crt: " + openssl_error());

  try {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                     ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    SSL_CTX* raw = ctx->native_handle();
    if (SSL_CTX_use_certificate(raw, leaf.get()) != 1 || SSL_CTX_use_PrivateKey(raw, leaf_key_.get()) != 1 ||
        SSL_CTX_add1_chain_cert(raw, ca_cert_.get()) != 1 || SSL_CTX_check_private_key(raw) != 1)
      return std::unexpected("cannot build the TLS context for " + host + ": " + openssl_error());
    enable_alpn_h2_http11(raw);
    SSL_CTX_set_mode(raw, SSL_MODE_RELEASE_BUFFERS);
    return ctx;
  } catch (const std::exception& e) {
    ERR_clear_error();
    return std::unexpected("cannot build the TLS context for " + host + ": " + e.what());
  }
}

}  // namespace cmux::tls
