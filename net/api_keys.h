// api_keys: reads the API key file given with --api-keys. One key per line: `KEY ROLE` where
// ROLE is `sell` or `admin`; blank lines and lines starting with '#' are ignored. Keys are
// 16-256 printable characters without spaces. Any other line is an error naming its number.
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "net/dispatcher.h"

namespace boxoffice::net {

// Parses the file's text; on error returns false with *error set.
bool parse_api_keys(std::string_view text, std::vector<ApiKey>* keys, std::string* error);
bool load_api_keys(const std::string& path, std::vector<ApiKey>* keys, std::string* error);

}  // namespace boxoffice::net
