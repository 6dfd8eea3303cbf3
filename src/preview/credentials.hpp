// Context credentials (SPEC §3 "Contexts and authentication"): random, from OpenSSL's CSPRNG.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace cmux::preview {

// "wc-<webContentsId>-<8 lowercase hex>"; nullopt only if the CSPRNG fails (RAND_bytes).
std::optional<std::string> make_username(std::uint64_t web_contents_id);

// 24 lowercase hex (96 random bits); nullopt only if the CSPRNG fails (RAND_bytes).
std::optional<std::string> make_password();

}  // namespace cmux::preview
