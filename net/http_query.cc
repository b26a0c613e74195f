#include "net/http_query.h"

#include <sys/queue.h>

#include <charconv>

namespace boxoffice::net {

Query::Query(const std::string& query) {
  TAILQ_INIT(&pairs_);
  if (!query.empty() && evhttp_parse_query_str(query.c_str(), &pairs_) != 0) {
    evhttp_clear_headers(&pairs_);
    valid_ = false;
  }
}

Query::~Query() { evhttp_clear_headers(&pairs_); }

const char* Query::get(const char* name) const { return evhttp_find_header(&pairs_, name); }

bool parse_int(std::string_view text, int64_t* value) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return !text.empty() && error == std::errc() && end == text.data() + text.size();
}

}  // namespace boxoffice::net
