// InputBuffer: the bytes read from one connection and not yet parsed, in a fixed-capacity buffer.
// Parsers read [data(), data() + size()) and consume() what they used; space() moves the rest to
// the front first, so a reply shorter than the capacity always fits. Thread safety: none (one
// connection, one thread).
#pragma once

#include <cstddef>
#include <cstring>
#include <span>
#include <vector>

#include "shm/check.h"

namespace boxoffice::load {

class InputBuffer {
 public:
  explicit InputBuffer(size_t capacity_bytes) : data_(capacity_bytes) {}

  std::span<char> space() {
    if (begin_ > 0) {
      std::memmove(data_.data(), data_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    return {data_.data() + end_, data_.size() - end_};
  }
  void added(size_t bytes) {
    BOXOFFICE_ASSERT(bytes <= data_.size() - end_);
    end_ += bytes;
  }
  const char* data() const { return data_.data() + begin_; }
  size_t size() const { return end_ - begin_; }
  void consume(size_t bytes) {
    BOXOFFICE_ASSERT(bytes <= size());
    begin_ += bytes;
    if (begin_ == end_) begin_ = end_ = 0;
  }

 private:
  std::vector<char> data_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace boxoffice::load
