// InOrderTags: the requests a connection has sent and not yet seen answered, oldest first, for
// protocols that answer in order (HTTP/1.1, RESP). A ring of fixed capacity (the pipeline depth; the
// codecs give it one spare entry).
// Thread safety: none (one connection, one thread).
#pragma once

#include <cstdint>
#include <vector>

#include "shm/check.h"
#include "tools/load/operation.h"

namespace boxoffice::load {

class InOrderTags {
 public:
  struct Entry {
    uint32_t tag;
    OperationKind kind;
  };
  explicit InOrderTags(uint32_t capacity) : entries_(capacity) {}
  void push(uint32_t tag, OperationKind kind) {
    BOXOFFICE_ASSERT(size_ < entries_.size());
    entries_[(head_ + size_) % entries_.size()] = Entry{tag, kind};
    ++size_;
  }
  bool empty() const { return size_ == 0; }
  const Entry& front() const {
    BOXOFFICE_ASSERT(size_ > 0);
    return entries_[head_];
  }
  void pop() {
    BOXOFFICE_ASSERT(size_ > 0);
    head_ = (head_ + 1) % entries_.size();
    --size_;
  }

 private:
  std::vector<Entry> entries_;
  size_t head_ = 0;
  size_t size_ = 0;
};

}  // namespace boxoffice::load
