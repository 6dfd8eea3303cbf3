// The preview proxy's contexts (SPEC §3 "Contexts and authentication"): one per WebContents,
// each with CSPRNG credentials. Owned by one server instance; thread-safe (read-mostly).
#pragma once

#include <atomic>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "preview/route.hpp"

namespace cmux::preview {

struct Context {
  std::string id;        // unique within the registry ("ctx-<n>")
  std::string username;  // "wc-<webContentsId>-<8 hex>"
  std::string password;  // 24 hex
  std::uint64_t web_contents_id = 0;
  std::optional<std::string> persist_key;
  std::optional<Route> route;  // nullopt: unrouted (a plain authenticated forward proxy)
  // Set when the registry lets go of the context (released or replaced): a connection that
  // remembers it (AuthMemo) must not use it any more.
  mutable std::atomic<bool> revoked{false};
};

// What one client connection remembers of its last successful authentication: the
// Proxy-Authorization value and the context it named. A browser sends the same value on every
// request of a connection, and the memo saves a base64 decode and a SHA-256 each time.
// Used on the connection's own thread only.
struct AuthMemo {
  std::string header;
  std::weak_ptr<const Context> context;
};

class ContextRegistry {
 public:
  // Creates a context, replacing (and so invalidating at once) the context of the same
  // webContentsId. A route that cannot be used for rewriting (see preview::rewrite) is
  // rejected with a message naming the field.
  std::expected<std::shared_ptr<const Context>, std::string> create(std::uint64_t web_contents_id,
                                                                    std::optional<std::string> persist_key,
                                                                    std::optional<Route> route);
  // Removes the context with this id; false if there is none (already released/replaced).
  bool release(std::string_view id);
  std::shared_ptr<const Context> find(std::uint64_t web_contents_id) const;
  // The context whose credentials a `Proxy-Authorization` value carries, or null (-> 407).
  // The lookup key is a SHA-256 of the whole credential, so its timing tells nothing about
  // which part of a guess was right; the final comparison is constant-time.
  std::shared_ptr<const Context> authenticate(std::string_view proxy_authorization) const;
  // The same, for a connection with a memo: the value the memo holds (compared in constant
  // time) names its context again while that context is live; anything else is authenticated
  // as above and, when accepted, remembered.
  std::shared_ptr<const Context> authenticate(std::string_view proxy_authorization, AuthMemo& memo) const;
  std::size_t size() const;

 private:
  mutable std::shared_mutex mutex_;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::uint64_t, std::shared_ptr<const Context>> by_web_contents_;
  std::unordered_map<std::string, std::shared_ptr<const Context>> by_credential_digest_;
};

}  // namespace cmux::preview
