// The preview proxy's contexts (SPEC §3 "Contexts and authentication").
//
// Decisions where SPEC §3 is silent (mirrored in docs):
// - A route is checked when the context is created, by rewriting a probe target
//   (http://localhost/) with no upstreamProxyUrl: a route that could only fail later (-> 502 on
//   every request) is refused up front. Without a cmuxProxyOrigin, morphId, scope and
//   domainSuffix must be non-empty (they make the fallback host name), even if the server has
//   an upstreamProxyUrl: the registry does not depend on server configuration.
// - Error messages start with the field: "route.morphId must not be empty",
//   "route: <rewrite's message>".
// - A CSPRNG failure, or (astronomically unlikely) credentials equal to those of another live
//   context, fails create(); an entry is never overwritten.
// - release() and replacement scan the maps (one context per WebContents, so a handful);
//   only the credential lookup of every request needs to be fast.
#include "preview/context_registry.hpp"

#include <openssl/evp.h>

#include <array>
#include <mutex>

#include "preview/basic_auth.hpp"
#include "preview/credentials.hpp"
#include "preview/rewrite.hpp"

namespace cmux::preview {
namespace {

// SHA-256 of "username:password" as 32 raw bytes; empty only if OpenSSL fails.
std::string credential_digest(std::string_view username, std::string_view password) {
  const std::string credential = std::string(username) + ":" + std::string(password);
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(credential.data(), credential.size(), digest.data(), &length, EVP_sha256(),
                 nullptr) != 1) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(digest.data()), length);
}

std::optional<std::string> validate_route(const Route& route) {
  if (route.cmux_proxy_origin.empty()) {
    if (route.morph_id.empty()) return "route.morphId must not be empty";
    if (route.scope.empty()) return "route.scope must not be empty";
    if (route.domain_suffix.empty()) return "route.domainSuffix must not be empty";
  }
  const auto probe = rewrite(Target{"http", "localhost", 80, "/"}, route, "");
  if (!probe) return "route: " + probe.error().message;
  return std::nullopt;
}

// Drops a context's credential entry, found by identity rather than by re-hashing, so the
// entry goes even if hashing were to fail, and revokes the context for the connections that
// remember it (AuthMemo). The caller holds the unique lock.
void forget(std::unordered_map<std::string, std::shared_ptr<const Context>>& by_digest,
            const std::shared_ptr<const Context>& context) {
  context->revoked.store(true);
  std::erase_if(by_digest, [&](const auto& entry) { return entry.second == context; });
}

}  // namespace

std::expected<std::shared_ptr<const Context>, std::string> ContextRegistry::create(
    std::uint64_t web_contents_id, std::optional<std::string> persist_key,
    std::optional<Route> route) {
  if (route) {
    if (auto error = validate_route(*route)) return std::unexpected(std::move(*error));
  }
  // Random bits and hashing happen before the lock: writers block every authenticate().
  std::optional<std::string> username = make_username(web_contents_id);
  std::optional<std::string> password = make_password();
  if (!username || !password) {
    return std::unexpected(std::string("cannot generate credentials: the CSPRNG failed"));
  }
  std::string digest = credential_digest(*username, *password);
  if (digest.empty()) return std::unexpected(std::string("cannot hash credentials: SHA-256 failed"));

  auto context = std::make_shared<Context>();
  context->username = std::move(*username);
  context->password = std::move(*password);
  context->web_contents_id = web_contents_id;
  context->persist_key = std::move(persist_key);
  context->route = std::move(route);

  std::unique_lock lock(mutex_);
  if (by_credential_digest_.contains(digest)) {
    return std::unexpected(std::string("cannot create context: credentials collide"));
  }
  context->id = "ctx-" + std::to_string(next_id_++);
  if (auto old = by_web_contents_.find(web_contents_id); old != by_web_contents_.end()) {
    forget(by_credential_digest_, old->second);
    by_web_contents_.erase(old);
  }
  by_web_contents_.emplace(web_contents_id, context);
  by_credential_digest_.emplace(std::move(digest), context);
  return context;
}

bool ContextRegistry::release(std::string_view id) {
  std::unique_lock lock(mutex_);
  for (auto it = by_web_contents_.begin(); it != by_web_contents_.end(); ++it) {
    if (it->second->id != id) continue;
    forget(by_credential_digest_, it->second);
    by_web_contents_.erase(it);
    return true;
  }
  return false;
}

std::shared_ptr<const Context> ContextRegistry::find(std::uint64_t web_contents_id) const {
  std::shared_lock lock(mutex_);
  const auto it = by_web_contents_.find(web_contents_id);
  return it == by_web_contents_.end() ? nullptr : it->second;
}

std::shared_ptr<const Context> ContextRegistry::authenticate(
    std::string_view proxy_authorization) const {
  const std::optional<Credentials> credentials = parse_basic_auth(proxy_authorization);
  if (!credentials || credentials->username.empty()) return nullptr;
  const std::string digest = credential_digest(credentials->username, credentials->password);
  if (digest.empty()) return nullptr;
  std::shared_ptr<const Context> context;
  {
    std::shared_lock lock(mutex_);
    const auto it = by_credential_digest_.find(digest);
    if (it == by_credential_digest_.end()) return nullptr;
    context = it->second;
  }
  // The digest matched; comparing the values themselves rules out a hash collision.
  if (!constant_time_equals(credentials->username, context->username) ||
      !constant_time_equals(credentials->password, context->password)) {
    return nullptr;
  }
  return context;
}

std::shared_ptr<const Context> ContextRegistry::authenticate(std::string_view proxy_authorization,
                                                             AuthMemo& memo) const {
  if (!memo.header.empty() && constant_time_equals(proxy_authorization, memo.header)) {
    if (auto context = memo.context.lock(); context && !context->revoked.load()) return context;
  }
  auto context = authenticate(proxy_authorization);
  if (context) {
    memo.header.assign(proxy_authorization);
    memo.context = context;
  }
  return context;
}

std::size_t ContextRegistry::size() const {
  std::shared_lock lock(mutex_);
  return by_web_contents_.size();
}

}  // namespace cmux::preview
