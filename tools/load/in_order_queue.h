// InOrderQueue: what a connection has sent and not yet seen answered, oldest first, for
// protocols that answer in order (HTTP/1.1, RESP). A ring of fixed capacity (the pipeline depth;
// the codecs give it one spare entry); T is whatever a codec needs to read a reply.
// Thread safety: none (one connection, one thread).
#pragma once

#include <cstddef>
#include <vector>

#include "shm/check.h"

namespace boxoffice::load {

template <typename T>
class InOrderQueue {
 public:
  explicit InOrderQueue(size_t capacity) : entries_(capacity) {}

  // The entry after the newest, to be filled in; it is queued already.
  T& push() {
    BOXOFFICE_ASSERT(size_ < entries_.size());
    T& entry = entries_[(head_ + size_) % entries_.size()];
    ++size_;
    return entry;
  }
  bool empty() const { return size_ == 0; }
  const T& front() const {
    BOXOFFICE_ASSERT(size_ > 0);
    return entries_[head_];
  }
  void pop() {
    BOXOFFICE_ASSERT(size_ > 0);
    head_ = (head_ + 1) % entries_.size();
    --size_;
  }

 private:
  std::vector<T> entries_;
  size_t head_ = 0;
  size_t size_ = 0;
};

}  // namespace boxoffice::load
