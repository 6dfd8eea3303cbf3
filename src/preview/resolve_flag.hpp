// `cmux-preview-proxy --resolve HOST:PORT:IP:PORT` (SPEC §5): a connect override, parsed into
// the PreviewConfig::resolve entry. Pure.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace cmux::preview {

// "host:port" -> "ip:port", both as format_host_port writes them (host lower-case, IPv6 in
// brackets). IPv6 is given in brackets in either part (`[::1]:443:[::1]:8443`). HOST is a
// name or IP literal, IP must be a numeric IPv4/IPv6 address, ports 1-65535. The error says
// what is wrong with the value.
std::expected<std::pair<std::string, std::string>, std::string> parse_resolve_flag(
    std::string_view value);

}  // namespace cmux::preview
