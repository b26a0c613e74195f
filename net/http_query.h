// http_query: a request's query string as decoded name/value pairs (libevent's parser), and
// the strict integer parsing routes use for query and path values.
// Thread safety: a Query is owned by one request; parse_int is a pure function.
#pragma once

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace boxoffice::net {

class Query {
 public:
  // A malformed query string reads as empty and is not valid().
  explicit Query(const std::string& query);
  ~Query();
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  const char* get(const char* name) const;  // null when absent
  bool valid() const { return valid_; }

 private:
  evkeyvalq pairs_;
  bool valid_ = true;
};

// The whole of `text` as a decimal integer.
bool parse_int(std::string_view text, int64_t* value);

}  // namespace boxoffice::net
