// JSON string escaping for the hand-written JSON log lines and CLI output (no JSON library:
// the suite only ever writes flat objects).
#pragma once

#include <string>
#include <string_view>

namespace cmux::net {

// The contents of a JSON string literal (without the quotes): `"` and `\` escaped, control
// characters below 0x20 as \n \r \t or \u00XX. Bytes >= 0x80 pass through unchanged, so UTF-8
// stays readable (invalid UTF-8 is not repaired: log fields are mostly ASCII already).
std::string json_escape(std::string_view text);

}  // namespace cmux::net
