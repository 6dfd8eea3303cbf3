// The upstream TLS client context: PEM roots checked at start, the context built once on
// first use, the system roots found through the hashed directory (SSL_CERT_DIR) or a file.
#include "tls/client_context.hpp"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tls/local_ca.hpp"

namespace cmux::tls {
namespace {

namespace fs = std::filesystem;

// A temporary directory with a local CA and one leaf minted by it for "localhost" (the CA is name-constrained to loopback).
class ClientContextTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cmux-client-ctx-" + std::to_string(::getpid()) + "-" +
                                        testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "roots");
    auto ca = LocalCa::open((dir_ / "ca").string());
    ASSERT_TRUE(ca) << ca.error();
    ca_ = *ca;
    auto ctx = ca_->context_for("localhost");
    ASSERT_TRUE(ctx) << ctx.error();
    leaf_ctx_ = *ctx;
    saved_file_ = env(X509_get_default_cert_file_env());
    saved_dir_ = env(X509_get_default_cert_dir_env());
  }
  void TearDown() override {
    restore(X509_get_default_cert_file_env(), saved_file_);
    restore(X509_get_default_cert_dir_env(), saved_dir_);
    fs::remove_all(dir_);
  }

  static std::optional<std::string> env(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::optional<std::string>(v) : std::nullopt;
  }
  static void restore(const char* name, const std::optional<std::string>& v) {
    if (v) ::setenv(name, v->c_str(), 1);
    else ::unsetenv(name);
  }

  // The CA certificate stored as `name` in roots/ ("" = its subject-hash name, "<hash>.0").
  std::string store_ca(const std::string& name) {
    BIO* bio = BIO_new_mem_buf(ca_->certificate_pem().data(), static_cast<int>(ca_->certificate_pem().size()));
    X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    char hash[16];
    std::snprintf(hash, sizeof hash, "%08lx.0", X509_subject_name_hash(cert));
    X509_free(cert);
    fs::path path = dir_ / "roots" / (name.empty() ? std::string(hash) : name);
    std::ofstream(path) << ca_->certificate_pem();
    return path.string();
  }

  // X509_verify_cert of the leaf against `store`, as a TLS server.
  int verify_with(X509_STORE* store) {
    X509_STORE_CTX* ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, SSL_CTX_get0_certificate(leaf_ctx_->native_handle()), nullptr);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    int ok = X509_verify_cert(ctx);
    int err = X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    ERR_clear_error();
    return ok == 1 ? X509_V_OK : (err == X509_V_OK ? -1 : err);
  }

  int verify_system_roots() {
    X509_STORE* store = X509_STORE_new();
    add_system_roots(store);
    int r = verify_with(store);
    X509_STORE_free(store);
    return r;
  }

  fs::path dir_;
  std::shared_ptr<LocalCa> ca_;
  std::shared_ptr<ssl::context> leaf_ctx_;
  std::optional<std::string> saved_file_, saved_dir_;
};

TEST_F(ClientContextTest, FindsARootInAHashedDirectory) {
  store_ca("");
  ::setenv(X509_get_default_cert_dir_env(), (dir_ / "roots").c_str(), 1);
  ::unsetenv(X509_get_default_cert_file_env());
  EXPECT_EQ(verify_system_roots(), X509_V_OK);
}

TEST_F(ClientContextTest, ADirectoryWithoutHashedNamesFallsBackToTheBundleFile) {
  // The CA under a plain name is invisible to the directory lookup; the system bundle does
  // not hold it either, so the chain must not verify (and nothing may crash on the way).
  store_ca("local-ca.pem");
  ::setenv(X509_get_default_cert_dir_env(), (dir_ / "roots").c_str(), 1);
  ::unsetenv(X509_get_default_cert_file_env());
  EXPECT_EQ(verify_system_roots(), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST_F(ClientContextTest, HonoursSslCertFile) {
  std::string file = store_ca("local-ca.pem");
  ::setenv(X509_get_default_cert_file_env(), file.c_str(), 1);
  ::setenv(X509_get_default_cert_dir_env(), (dir_ / "missing").c_str(), 1);
  EXPECT_EQ(verify_system_roots(), X509_V_OK);
}

TEST_F(ClientContextTest, ADirectoryListIsSearchedInOrder) {
  store_ca("");
  std::string list = (dir_ / "missing").string() + ":" + (dir_ / "roots").string();
  ::setenv(X509_get_default_cert_dir_env(), list.c_str(), 1);
  ::unsetenv(X509_get_default_cert_file_env());
  EXPECT_EQ(verify_system_roots(), X509_V_OK);
}

TEST_F(ClientContextTest, ABadPemIsAStartErrorNamingIt) {
  auto bad = ClientContext::make({ca_->certificate_pem(), "not a certificate"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), "upstreamCaCerts[1] holds no PEM certificate");
  EXPECT_FALSE(ClientContext::make({""}));
}

TEST_F(ClientContextTest, ExtraRootsVerifyAndTheContextIsBuiltOnce) {
  auto made = ClientContext::make({ca_->certificate_pem()});
  ASSERT_TRUE(made) << made.error();
  std::vector<std::shared_ptr<ssl::context>> got(4);
  std::vector<std::thread> threads;
  for (auto& g : got) threads.emplace_back([&g, &made] { g = (*made)->get(); });
  for (auto& t : threads) t.join();
  ASSERT_TRUE(got[0]);
  for (auto& g : got) EXPECT_EQ(g.get(), got[0].get());
  SSL_CTX* raw = got[0]->native_handle();
  EXPECT_EQ(SSL_CTX_get_verify_mode(raw) & SSL_VERIFY_PEER, SSL_VERIFY_PEER);
  EXPECT_EQ(verify_with(SSL_CTX_get_cert_store(raw)), X509_V_OK);
}

TEST_F(ClientContextTest, WithoutExtraRootsALocalLeafDoesNotVerify) {
  ::setenv(X509_get_default_cert_dir_env(), (dir_ / "roots").c_str(), 1);  // empty
  ::unsetenv(X509_get_default_cert_file_env());
  auto made = ClientContext::make({});
  ASSERT_TRUE(made) << made.error();
  auto ctx = (*made)->get();
  ASSERT_TRUE(ctx);
  EXPECT_EQ(verify_with(SSL_CTX_get_cert_store(ctx->native_handle())), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

}  // namespace
}  // namespace cmux::tls
