// Protocol sniffing on the first bytes of a connection (TLS record, HTTP/2 preface, else
// HTTP/1.1). The bytes stay in the transport's replay buffer for the chosen codec.
#pragma once

#include <expected>
#include <string_view>

#include "net/transport.hpp"

namespace cmux::net {

enum class Sniffed { http1, http2, tls };

// Pure: classifies a prefix; nullopt while more bytes are needed to decide.
std::optional<Sniffed> classify_prefix(std::string_view bytes);

// Reads until classify_prefix decides. Errors: EOF / read failures.
awaitable<std::expected<Sniffed, error_code>> sniff(Transport& t);

}  // namespace cmux::net
