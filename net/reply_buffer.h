// ReplyBuffer: the growable byte buffer msgpack replies are packed into (the stream of a
// msgpack::packer). It has msgpack::sbuffer's interface, but its write() is inline: a packer
// writes each element as a separate write() of 1-9 bytes with a length known at compile time,
// which here becomes a bounds check and a move. sbuffer's out-of-line write() called memcpy for
// each one, 8% of a worker's time under pipelined holds. It keeps its capacity across clear().
//
// Thread safety: none; one owner.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>

namespace boxoffice::net {

class ReplyBuffer {
 public:
  static constexpr size_t kInitialBytes = 512;

  ReplyBuffer() : bytes_(new char[kInitialBytes]), capacity_(kInitialBytes) {}
  ReplyBuffer(const ReplyBuffer&) = delete;
  ReplyBuffer& operator=(const ReplyBuffer&) = delete;

  [[gnu::always_inline]] void write(const char* data, size_t count) {
    if (count > capacity_ - size_) [[unlikely]]
      grow(count);
    std::memcpy(bytes_.get() + size_, data, count);
    size_ += count;
  }
  const char* data() const { return bytes_.get(); }
  size_t size() const { return size_; }
  void clear() { size_ = 0; }

 private:
  // Doubles the capacity (at least) so that `count` more bytes fit; keeps the contents.
  [[gnu::noinline]] void grow(size_t count) {
    size_t capacity = capacity_ * 2;
    while (capacity - size_ < count) capacity *= 2;
    std::unique_ptr<char[]> bytes(new char[capacity]);
    std::memcpy(bytes.get(), bytes_.get(), size_);
    bytes_ = std::move(bytes);
    capacity_ = capacity;
  }

  std::unique_ptr<char[]> bytes_;
  size_t size_ = 0;
  size_t capacity_;
};

}  // namespace boxoffice::net
