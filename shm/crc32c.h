// crc32c: CRC-32C (Castagnoli), used to checksum the seat table header and, later, journal
// records. Uses the SSE4.2 crc32 instruction when the CPU has it, a table otherwise.
// Thread safety: pure function, callable from any thread.
#pragma once

#include <cstddef>
#include <cstdint>

namespace boxoffice {

// Extends `crc` (0 for a fresh checksum) over `size` bytes at `data`.
uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);

}  // namespace boxoffice
