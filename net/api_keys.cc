#include "net/api_keys.h"

#include <fstream>
#include <sstream>

namespace boxoffice::net {

bool parse_api_keys(std::string_view text, std::vector<ApiKey>* keys, std::string* error) {
  keys->clear();
  size_t line_number = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++line_number;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.remove_suffix(1);
    }
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    const size_t space = line.find_first_of(" \t");
    const std::string_view key = line.substr(0, space);
    std::string_view role = space == std::string_view::npos ? "" : line.substr(space + 1);
    while (!role.empty() && (role.front() == ' ' || role.front() == '\t')) role.remove_prefix(1);
    bool printable = true;
    for (char c : key) printable = printable && c > ' ' && c < 127;
    const std::string where = "api key file line " + std::to_string(line_number) + ": ";
    if (key.size() < 16 || key.size() > 256 || !printable) {
      *error = where + "a key is 16-256 printable characters";
      return false;
    }
    if (role != "sell" && role != "admin") {
      *error = where + "expected `KEY sell` or `KEY admin`";
      return false;
    }
    keys->push_back({std::string(key), role == "admin" ? ClientRole::kAdmin : ClientRole::kSell});
  }
  if (keys->empty()) {
    *error = "api key file has no keys";
    return false;
  }
  return true;
}

bool load_api_keys(const std::string& path, std::vector<ApiKey>* keys, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot read api key file " + path;
    return false;
  }
  std::stringstream text;
  text << in.rdbuf();
  return parse_api_keys(text.str(), keys, error);
}

}  // namespace boxoffice::net
