// The local CA: creation, reload, repair of bad files, name constraints, leaves, LRU, threads.
#include "tls/local_ca.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace cmux::tls {
namespace {

namespace fs = std::filesystem;

struct X509Del {
  void operator()(X509* p) const { X509_free(p); }
};
struct PkeyDel {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Del>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDel>;

X509Ptr parse_cert(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509Ptr cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  return cert;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

X509* leaf_of(const std::shared_ptr<ssl::context>& ctx) { return SSL_CTX_get0_certificate(ctx->native_handle()); }

std::string serial_of(X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  char* hex = BN_bn2hex(bn);
  std::string out = hex;
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

// "DNS:name" / "IP:text" for every subjectAltName entry.
std::vector<std::string> sans_of(X509* cert) {
  std::vector<std::string> out;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type == GEN_DNS) {
      out.push_back("DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(gn->d.dNSName)),
                                         static_cast<std::size_t>(ASN1_STRING_length(gn->d.dNSName))));
    } else if (gn->type == GEN_IPADD) {
      char text[INET6_ADDRSTRLEN] = {};
      int len = ASN1_STRING_length(gn->d.iPAddress);
      inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(gn->d.iPAddress), text, sizeof text);
      out.push_back(std::string("IP:") + text);
    } else {
      out.push_back("other");
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

// X509_verify_cert of `leaf` against `ca` alone, as a TLS server for `host` (name or IP literal).
int verify(X509* leaf, X509* ca, const std::string& host) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
  unsigned char buf[16];
  bool ip = inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
  if (ip) EXPECT_EQ(X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()), 1);
  else EXPECT_EQ(X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0), 1);
  int ok = X509_verify_cert(ctx);
  int err = X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  ERR_clear_error();
  return ok == 1 ? X509_V_OK : (err == X509_V_OK ? -1 : err);
}

long long validity_seconds(X509* cert) {
  int days = 0;
  int secs = 0;
  EXPECT_EQ(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert), X509_get0_notAfter(cert)), 1);
  return static_cast<long long>(days) * 86400 + secs;
}

std::string key_id(const ASN1_OCTET_STRING* s) {
  return s ? std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                         static_cast<std::size_t>(ASN1_STRING_length(s)))
           : std::string();
}

class LocalCaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/local_ca_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/home/.cmux/certs";  // parents missing too
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  std::shared_ptr<LocalCa> open_ok(std::size_t capacity = 256) { return open_ok(dir_, capacity); }
  std::shared_ptr<LocalCa> open_ok(const std::string& dir, std::size_t capacity = 256) {
    auto ca = LocalCa::open(dir, [this](std::string_view line) { warnings_.emplace_back(line); }, capacity);
    EXPECT_TRUE(ca.has_value()) << (ca ? "" : ca.error());
    return ca ? *ca : nullptr;
  }
  X509Ptr ca_cert(const LocalCa& ca) { return parse_cert(ca.certificate_pem()); }
  std::string key_path() const { return dir_ + "/ca.key"; }
  std::string cert_path() const { return dir_ + "/ca.crt"; }

  std::string root_;
  std::string dir_;
  std::vector<std::string> warnings_;
};

// ---- the CA --------------------------------------------------------------------------------

TEST_F(LocalCaTest, CreatesFilesWithPrivateModes) {
  auto ca = open_ok();
  ASSERT_TRUE(ca);
  EXPECT_TRUE(warnings_.empty());
  EXPECT_EQ(mode_of(dir_), 0700u);
  EXPECT_EQ(mode_of(key_path()), 0600u);
  EXPECT_EQ(slurp(cert_path()), ca->certificate_pem());
  EXPECT_NE(slurp(key_path()).find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
  // No temporary files left behind.
  for (const auto& entry : fs::directory_iterator(dir_))
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
}

TEST_F(LocalCaTest, ReloadReturnsSameCertificateAndSpki) {
  auto first = open_ok();
  auto second = open_ok();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->certificate_pem(), second->certificate_pem());
  EXPECT_EQ(first->spki_sha256_base64(), second->spki_sha256_base64());
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(LocalCaTest, NewCaIsEcP256WithCaFlags) {
  auto ca = open_ok();
  ASSERT_TRUE(ca);
  X509Ptr cert = ca_cert(*ca);
  ASSERT_TRUE(cert);
  EXPECT_EQ(X509_check_ca(cert.get()), 1);
  EXPECT_EQ(X509_get_version(cert.get()), X509_VERSION_3);

  char cn[128] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof cn);
  EXPECT_STREQ(cn, "Cmux Preview Proxy CA");
  EXPECT_EQ(X509_check_issued(cert.get(), cert.get()), X509_V_OK);  // self-signed

  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  ASSERT_EQ(EVP_PKEY_get_base_id(key), EVP_PKEY_EC);
  char group[64] = {};
  size_t group_len = 0;
  ASSERT_EQ(EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &group_len), 1);
  EXPECT_STREQ(group, "prime256v1");

  int crit = -1;
  auto* bc = static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(cert.get(), NID_basic_constraints, &crit, nullptr));
  ASSERT_TRUE(bc);
  EXPECT_EQ(crit, 1);
  EXPECT_TRUE(bc->ca);
  ASSERT_TRUE(bc->pathlen);
  EXPECT_EQ(ASN1_INTEGER_get(bc->pathlen), 0);
  BASIC_CONSTRAINTS_free(bc);

  crit = -1;
  auto* ku = static_cast<ASN1_BIT_STRING*>(X509_get_ext_d2i(cert.get(), NID_key_usage, &crit, nullptr));
  ASSERT_TRUE(ku);
  EXPECT_EQ(crit, 1);
  ASN1_BIT_STRING_free(ku);
  EXPECT_EQ(X509_get_key_usage(cert.get()), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_FALSE(key_id(X509_get0_subject_key_id(cert.get())).empty());

  // 10 years, backdated by an hour.
  long long seconds = validity_seconds(cert.get());
  EXPECT_GE(seconds, 3650LL * 86400);
  EXPECT_LE(seconds, 3653LL * 86400);
  EXPECT_LT(X509_cmp_current_time(X509_get0_notBefore(cert.get())), 0);
}

TEST_F(LocalCaTest, NameConstraintsPresentAndCritical) {
  auto ca = open_ok();
  ASSERT_TRUE(ca);
  X509Ptr cert = ca_cert(*ca);
  int crit = -1;
  auto* nc = static_cast<NAME_CONSTRAINTS*>(X509_get_ext_d2i(cert.get(), NID_name_constraints, &crit, nullptr));
  ASSERT_TRUE(nc);
  EXPECT_EQ(crit, 1);
  EXPECT_EQ(nc->excludedSubtrees, nullptr);
  std::set<std::string> permitted;
  for (int i = 0; i < sk_GENERAL_SUBTREE_num(nc->permittedSubtrees); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, i)->base;
    const ASN1_STRING* s = gn->type == GEN_DNS ? gn->d.dNSName : gn->d.iPAddress;
    std::string value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                      static_cast<std::size_t>(ASN1_STRING_length(s)));
    if (gn->type == GEN_DNS) {
      permitted.insert("DNS:" + value);
    } else if (gn->type == GEN_IPADD && value.size() == 8) {
      char a[16], m[16];
      inet_ntop(AF_INET, value.data(), a, sizeof a);
      inet_ntop(AF_INET, value.data() + 4, m, sizeof m);
      permitted.insert(std::string("IP:") + a + "/" + m);
    } else if (gn->type == GEN_IPADD && value.size() == 32) {
      char a[INET6_ADDRSTRLEN], m[INET6_ADDRSTRLEN];
      inet_ntop(AF_INET6, value.data(), a, sizeof a);
      inet_ntop(AF_INET6, value.data() + 16, m, sizeof m);
      permitted.insert(std::string("IP:") + a + "/" + m);
    } else {
      permitted.insert("unexpected");
    }
  }
  NAME_CONSTRAINTS_free(nc);
  EXPECT_EQ(permitted, (std::set<std::string>{"DNS:localhost", "DNS:.localhost", "DNS:.cmux.local",
                                              "DNS:.manaflow.local", "IP:127.0.0.0/255.0.0.0",
                                              "IP:::1/ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}));
}

TEST_F(LocalCaTest, SpkiIsBase64Sha256OfSubjectPublicKeyInfo) {
  auto ca = open_ok();
  ASSERT_TRUE(ca);
  X509Ptr cert = ca_cert(*ca);
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(X509_get0_pubkey(cert.get()), &der);
  ASSERT_GT(len, 0);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(der, static_cast<size_t>(len), digest);
  OPENSSL_free(der);
  unsigned char b64[64] = {};
  int b64_len = EVP_EncodeBlock(b64, digest, sizeof digest);
  EXPECT_EQ(ca->spki_sha256_base64(), std::string(reinterpret_cast<char*>(b64), static_cast<std::size_t>(b64_len)));
  EXPECT_EQ(ca->spki_sha256_base64().size(), 44u);
}

// ---- repair --------------------------------------------------------------------------------

TEST_F(LocalCaTest, CorruptCertificateIsReplacedWithWarning) {
  auto first = open_ok();
  ASSERT_TRUE(first);
  spit(cert_path(), "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
  auto second = open_ok();
  ASSERT_TRUE(second);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("ca.crt"), std::string::npos) << warnings_[0];
  EXPECT_NE(second->spki_sha256_base64(), first->spki_sha256_base64());
  EXPECT_EQ(slurp(cert_path()), second->certificate_pem());
  EXPECT_EQ(mode_of(key_path()), 0600u);
  // The replacement is stable.
  warnings_.clear();
  auto third = open_ok();
  ASSERT_TRUE(third);
  EXPECT_TRUE(warnings_.empty());
  EXPECT_EQ(third->spki_sha256_base64(), second->spki_sha256_base64());
}

TEST_F(LocalCaTest, GarbageKeyAndEmptyFilesAreReplaced) {
  ASSERT_TRUE(open_ok());
  spit(key_path(), "garbage");
  ASSERT_TRUE(open_ok());
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("ca.key"), std::string::npos) << warnings_[0];
  spit(cert_path(), "");
  spit(key_path(), "");
  ASSERT_TRUE(open_ok());
  EXPECT_EQ(warnings_.size(), 2u);
}

TEST_F(LocalCaTest, MissingCertificateWithKeyIsReplaced) {
  ASSERT_TRUE(open_ok());
  fs::remove(cert_path());
  auto ca = open_ok();
  ASSERT_TRUE(ca);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("missing"), std::string::npos) << warnings_[0];
  EXPECT_EQ(slurp(cert_path()), ca->certificate_pem());
}

TEST_F(LocalCaTest, KeyNotMatchingCertificateIsReplacedWithWarning) {
  auto a = open_ok();
  std::string other = root_ + "/other";
  auto b = open_ok(other);
  ASSERT_TRUE(a && b);
  fs::copy_file(other + "/ca.key", key_path(), fs::copy_options::overwrite_existing);
  auto c = open_ok();
  ASSERT_TRUE(c);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("does not match"), std::string::npos) << warnings_[0];
  EXPECT_NE(c->spki_sha256_base64(), a->spki_sha256_base64());
  EXPECT_NE(c->spki_sha256_base64(), b->spki_sha256_base64());
  // What is on disk now is a matching pair.
  warnings_.clear();
  auto d = open_ok();
  ASSERT_TRUE(d);
  EXPECT_TRUE(warnings_.empty());
  EXPECT_EQ(d->spki_sha256_base64(), c->spki_sha256_base64());
}

TEST_F(LocalCaTest, LooseKeyModeIsFixedWithWarning) {
  auto first = open_ok();
  ASSERT_TRUE(first);
  ASSERT_EQ(::chmod(key_path().c_str(), 0644), 0);
  auto second = open_ok();
  ASSERT_TRUE(second);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("0644"), std::string::npos) << warnings_[0];
  EXPECT_NE(warnings_[0].find("0600"), std::string::npos) << warnings_[0];
  EXPECT_EQ(mode_of(key_path()), 0600u);
  EXPECT_EQ(second->certificate_pem(), first->certificate_pem());  // reused, not replaced
}

// (An unreadable key file is covered by the FIFO case below: a mode-000 file is readable for
// root, which CI runs as, and a skipped test proves nothing.)
TEST_F(LocalCaTest, FifoInsteadOfKeyIsReplacedWithoutHanging) {
  ASSERT_TRUE(open_ok());
  fs::remove(key_path());
  ASSERT_EQ(::mkfifo(key_path().c_str(), 0600), 0);
  auto ca = open_ok();
  ASSERT_TRUE(ca);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("unreadable"), std::string::npos) << warnings_[0];
  EXPECT_TRUE(fs::is_regular_file(key_path()));
  EXPECT_EQ(mode_of(key_path()), 0600u);
}

TEST_F(LocalCaTest, DirectoryThatIsAFileIsAnErrorNotACrash) {
  std::string file = root_ + "/plain";
  spit(file, "x");
  auto ca = LocalCa::open(file);
  ASSERT_FALSE(ca.has_value());
  EXPECT_NE(ca.error().find("not a directory"), std::string::npos) << ca.error();
}

// An RSA-2048 CA like the old Node.js proxy's: traditional "RSA PRIVATE KEY" PEM, no
// subjectKeyIdentifier, valid for 30 days only.
struct RsaCa {
  PkeyPtr key;
  X509Ptr cert;
  std::string key_pem;
  std::string cert_pem;
};

RsaCa make_rsa_ca(bool is_ca) {
  RsaCa out;
  out.key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)));
  out.cert.reset(X509_new());
  X509* c = out.cert.get();
  X509_set_version(c, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(c), 4242);
  X509_NAME* name = X509_get_subject_name(c);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Old Node CA"), -1,
                             -1, 0);
  X509_set_issuer_name(c, name);
  X509_gmtime_adj(X509_getm_notBefore(c), -86400);
  X509_gmtime_adj(X509_getm_notAfter(c), 30L * 86400);
  X509_set_pubkey(c, out.key.get());
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, c, c, nullptr, nullptr, 0);
  X509_EXTENSION* ext =
      X509V3_EXT_conf_nid(nullptr, &v3, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  X509_add_ext(c, ext, -1);
  X509_EXTENSION_free(ext);
  X509_sign(c, out.key.get(), EVP_sha256());
  BIO* kb = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey_traditional(kb, out.key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  BIO* cb = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(cb, c);
  char* p = nullptr;
  long n = BIO_get_mem_data(kb, &p);
  out.key_pem.assign(p, static_cast<std::size_t>(n));
  n = BIO_get_mem_data(cb, &p);
  out.cert_pem.assign(p, static_cast<std::size_t>(n));
  BIO_free(kb);
  BIO_free(cb);
  return out;
}

TEST_F(LocalCaTest, ReusesRsaCaOfTheOldProxyAsIs) {
  RsaCa old = make_rsa_ca(true);
  ASSERT_NE(old.key_pem.find("BEGIN RSA PRIVATE KEY"), std::string::npos);
  fs::create_directories(dir_);
  spit(key_path(), old.key_pem);
  ::chmod(key_path().c_str(), 0600);
  spit(cert_path(), old.cert_pem);

  auto ca = open_ok();
  ASSERT_TRUE(ca);
  EXPECT_TRUE(warnings_.empty());
  EXPECT_EQ(ca->certificate_pem(), old.cert_pem);
  EXPECT_EQ(slurp(key_path()), old.key_pem);  // untouched
  EXPECT_EQ(slurp(cert_path()), old.cert_pem);

  auto ctx = ca->context_for("localhost");
  ASSERT_TRUE(ctx) << ctx.error();
  X509* leaf = leaf_of(*ctx);
  EXPECT_EQ(verify(leaf, old.cert.get(), "localhost"), X509_V_OK);
  EXPECT_EQ(X509_get_signature_nid(leaf), NID_sha256WithRSAEncryption);
  // AKI falls back to the SHA-1 of the CA key when the CA has no subjectKeyIdentifier.
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  ASSERT_EQ(X509_pubkey_digest(old.cert.get(), EVP_sha1(), md, &md_len), 1);
  EXPECT_EQ(key_id(X509_get0_authority_key_id(leaf)), std::string(reinterpret_cast<char*>(md), md_len));
  // Never outlives the CA.
  EXPECT_LE(ASN1_TIME_compare(X509_get0_notAfter(leaf), X509_get0_notAfter(old.cert.get())), 0);
}

TEST_F(LocalCaTest, NonCaCertificateIsReplaced) {
  RsaCa old = make_rsa_ca(false);
  fs::create_directories(dir_);
  spit(key_path(), old.key_pem);
  ::chmod(key_path().c_str(), 0600);
  spit(cert_path(), old.cert_pem);
  auto ca = open_ok();
  ASSERT_TRUE(ca);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("not a CA"), std::string::npos) << warnings_[0];
  EXPECT_NE(ca->certificate_pem(), old.cert_pem);
}

// ---- leaves --------------------------------------------------------------------------------

TEST_F(LocalCaTest, LocalhostLeafVerifiesAgainstTheCa) {
  auto ca = open_ok();
  ASSERT_TRUE(ca);
  X509Ptr root = ca_cert(*ca);
  auto ctx = ca->context_for("localhost");
  ASSERT_TRUE(ctx) << ctx.error();
  X509* leaf = leaf_of(*ctx);
  ASSERT_TRUE(leaf);
  EXPECT_EQ(sans_of(leaf), std::vector<std::string>{"DNS:localhost"});
  char cn[128] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, sizeof cn);
  EXPECT_STREQ(cn, "localhost");
  EXPECT_EQ(verify(leaf, root.get(), "localhost"), X509_V_OK);
  EXPECT_EQ(verify(leaf, root.get(), "other.localhost"), X509_V_ERR_HOSTNAME_MISMATCH);

  // Extensions.
  EXPECT_EQ(X509_check_ca(leaf), 0);
  EXPECT_EQ(X509_get_key_usage(leaf), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_get_extended_key_usage(leaf), static_cast<uint32_t>(XKU_SSL_SERVER));
  EXPECT_EQ(key_id(X509_get0_authority_key_id(leaf)), key_id(X509_get0_subject_key_id(root.get())));
  EVP_PKEY* key = X509_get0_pubkey(leaf);
  EXPECT_EQ(EVP_PKEY_get_base_id(key), EVP_PKEY_EC);
  EXPECT_EQ(EVP_PKEY_get_bits(key), 256);
  BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), nullptr);
  EXPECT_GE(BN_num_bits(serial), 100);  // 128 random bits
  BN_free(serial);

  // Validity: backdated an hour, at most 397 days in all.
  EXPECT_LE(validity_seconds(leaf), 397LL * 86400);
  EXPECT_GE(validity_seconds(leaf), 396LL * 86400);
  std::time_t an_hour_ago = std::time(nullptr) - 3500;
  EXPECT_LT(X509_cmp_time(X509_get0_notBefore(leaf), &an_hour_ago), 0);

  // The served chain is leaf + CA.
  STACK_OF(X509)* chain = nullptr;
  ASSERT_EQ(SSL_CTX_get0_chain_certs((*ctx)->native_handle(), &chain), 1);
  ASSERT_EQ(sk_X509_num(chain), 1);
  EXPECT_EQ(X509_cmp(sk_X509_value(chain, 0), root.get()), 0);
}

TEST_F(LocalCaTest, IpLeavesHaveIpSansAndVerify) {
  auto ca = open_ok();
  ASSERT_TRUE(ca);
  X509Ptr root = ca_cert(*ca);
  for (const std::string host : {"127.0.0.1", "::1", "127.10.20.30"}) {
    auto ctx = ca->context_for(host);
    ASSERT_TRUE(ctx) << host << ": " << ctx.error();
    X509* leaf = leaf_of(*ctx);
    EXPECT_EQ(sans_of(leaf), std::vector<std::string>{"IP:" + host});
    EXPECT_EQ(verify(leaf, root.get(), host), X509_V_OK) << host;
    EXPECT_LE(validity_seconds(leaf), 397LL * 86400);
  }
  // One context per address, whatever the spelling.
  auto a = ca->context_for("::1");
  auto b = ca->context_for("0:0:0:0:0:0:0:1");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
}

TEST_F(LocalCaTest, NamesUnderTheConstraintsVerify) {
  auto ca = open_ok();
  ASSERT_TRUE(ca);
  X509Ptr root = ca_cert(*ca);
  for (const std::string host : {"app.localhost", "a.b.localhost", "cmux-x-base-3000.cmux.local", "w.manaflow.local"}) {
    auto ctx = ca->context_for(host);
    ASSERT_TRUE(ctx) << host << ": " << ctx.error();
    EXPECT_EQ(verify(leaf_of(*ctx), root.get(), host), X509_V_OK) << host;
  }
}

TEST_F(LocalCaTest, NamesOutsideTheConstraintsAreMintedButDoNotVerify) {
  auto ca = open_ok();
  ASSERT_TRUE(ca);
  X509Ptr root = ca_cert(*ca);
  for (const std::string host : {"example.com", "cmux.local", "evil-localhost", "10.0.0.1", "::2"}) {
    auto ctx = ca->context_for(host);
    ASSERT_TRUE(ctx) << host << ": " << ctx.error();
    X509* leaf = leaf_of(*ctx);
    EXPECT_EQ(sans_of(leaf).size(), 1u);
    EXPECT_EQ(verify(leaf, root.get(), host), X509_V_ERR_PERMITTED_VIOLATION) << host;
  }
}

TEST_F(LocalCaTest, ListenerContextCoversLocalhostAndLoopbackIps) {
  auto ca = open_ok();
  ASSERT_TRUE(ca);
  X509Ptr root = ca_cert(*ca);
  auto ctx = ca->listener_context();
  ASSERT_TRUE(ctx) << ctx.error();
  X509* leaf = leaf_of(*ctx);
  EXPECT_EQ(sans_of(leaf), (std::vector<std::string>{"DNS:localhost", "IP:127.0.0.1", "IP:::1"}));
  for (const std::string host : {"localhost", "127.0.0.1", "::1"})
    EXPECT_EQ(verify(leaf, root.get(), host), X509_V_OK) << host;
  auto again = ca->listener_context();
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *ctx);
  EXPECT_EQ(ca->cached(), 1u);
  // Not the same entry as the "localhost" leaf.
  auto plain = ca->context_for("localhost");
  ASSERT_TRUE(plain);
  EXPECT_NE(*plain, *ctx);
  EXPECT_EQ(ca->cached(), 2u);
}

TEST_F(LocalCaTest, LeavesShareOneKeyPerInstance) {
  auto ca = open_ok();
  ASSERT_TRUE(ca);
  auto a = ca->context_for("a.localhost");
  auto b = ca->context_for("127.0.0.1");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(leaf_of(*a)), X509_get0_pubkey(leaf_of(*b))), 1);
  EXPECT_NE(serial_of(leaf_of(*a)), serial_of(leaf_of(*b)));
}

TEST_F(LocalCaTest, HostsAreCaseInsensitive) {
  auto ca = open_ok();
  ASSERT_TRUE(ca);
  auto a = ca->context_for("App.LocalHost");
  auto b = ca->context_for("app.localhost");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(sans_of(leaf_of(*a)), std::vector<std::string>{"DNS:app.localhost"});
  EXPECT_EQ(ca->cached(), 1u);
}

TEST_F(LocalCaTest, UnusableHostsAreErrors) {
  auto ca = open_ok();
  ASSERT_TRUE(ca);
  for (const std::string& host :
       {std::string(), std::string("a b"), std::string("[::1]"), std::string("exa/mple.com"), std::string("1:2:3"),
        std::string("a..localhost"), std::string(".localhost"), std::string("x\0y", 3), std::string("é.localhost"),
        std::string(254, 'a')}) {
    auto ctx = ca->context_for(host);
    EXPECT_FALSE(ctx.has_value()) << host;
    if (!ctx) {
      EXPECT_FALSE(ctx.error().empty());
    }
  }
  EXPECT_EQ(ca->cached(), 0u);
  // 253 bytes is fine (no CN then: ub-common-name is 64).
  std::string long_name = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
                          std::string(51, 'd') + ".localhost";
  ASSERT_EQ(long_name.size(), 253u);
  auto ctx = ca->context_for(long_name);
  ASSERT_TRUE(ctx) << ctx.error();
  EXPECT_EQ(verify(leaf_of(*ctx), ca_cert(*ca).get(), long_name), X509_V_OK);
  // A trailing dot names the same host.
  auto dotted = ca->context_for("localhost.");
  auto plain = ca->context_for("localhost");
  ASSERT_TRUE(dotted && plain);
  EXPECT_EQ(*dotted, *plain);
}

TEST_F(LocalCaTest, LruEvictsTheLeastRecentlyUsedHost) {
  auto ca = open_ok(2);
  ASSERT_TRUE(ca);
  auto a = ca->context_for("a.localhost");
  auto b = ca->context_for("b.localhost");
  auto c = ca->context_for("c.localhost");
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(ca->cached(), 2u);
  auto c_again = ca->context_for("c.localhost");
  ASSERT_TRUE(c_again);
  EXPECT_EQ(*c_again, *c);  // recent: the same context
  auto a_again = ca->context_for("a.localhost");
  ASSERT_TRUE(a_again);
  EXPECT_NE(*a_again, *a);  // evicted: minted again
  EXPECT_NE(serial_of(leaf_of(*a_again)), serial_of(leaf_of(*a)));
  EXPECT_EQ(ca->cached(), 2u);
  // Using c made b the least recent: b is gone, c stays.
  auto c_third = ca->context_for("c.localhost");
  ASSERT_TRUE(c_third);
  EXPECT_EQ(*c_third, *c);
  auto b_again = ca->context_for("b.localhost");
  ASSERT_TRUE(b_again);
  EXPECT_NE(*b_again, *b);
}

TEST_F(LocalCaTest, ConcurrentContextForIsConsistent) {
  auto ca = open_ok();
  ASSERT_TRUE(ca);
  X509Ptr root = ca_cert(*ca);
  constexpr int kThreads = 4;
  constexpr int kHosts = 50;
  using Row = std::vector<std::shared_ptr<ssl::context>>;
  std::vector<Row> got(kThreads, Row(kHosts));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 2; ++round) {
        for (int i = 0; i < kHosts; ++i) {
          int r = (i + t * 13) % kHosts;  // a different order per thread: rotated, every other reversed
          int h = t % 2 ? kHosts - 1 - r : r;
          auto ctx = ca->context_for("h" + std::to_string(h) + ".localhost");
          if (!ctx) {
            ++failures;
            continue;
          }
          if (!got[t][h]) got[t][h] = *ctx;
          else if (got[t][h] != *ctx) ++failures;  // cache big enough: never replaced
        }
        if (t == 0) (void)ca->listener_context();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(ca->cached(), static_cast<std::size_t>(kHosts + 1));
  for (int h = 0; h < kHosts; ++h) {
    std::string host = "h" + std::to_string(h) + ".localhost";
    for (int t = 1; t < kThreads; ++t) EXPECT_EQ(got[t][h], got[0][h]) << host;
    ASSERT_TRUE(got[0][h]);
    EXPECT_EQ(verify(leaf_of(got[0][h]), root.get(), host), X509_V_OK) << host;
  }
}

}  // namespace
}  // namespace cmux::tls
