// A hint for large buffers written once and soon freed (a CRL of a million
// entries and its PEM, 49 and 66 MB): the kernel may back their 2 MiB-aligned
// middle with transparent huge pages when they are first touched (THP in
// "madvise" mode, Debian's default), one fault per 2 MiB instead of one per
// 4 KiB page. On the benchmark machine of 2026-12-05 a first touch cost about
// 16 us a page, and the 1M CRL's sign went from 0.39 to 0.24 s with it
// (bench/results/crl-2026-12-05-one-buffer, crl-2026-12-05-huge-pages). Without THP
// the call fails and nothing changes.
//
// MappedBuffer is the same hint for large tables that live long and grow
// (crl::CrlEntrySet's arena and index): see the class.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>

namespace hostca {

inline void AdviseHugePages(void* p, size_t n) {
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) & ~(kHuge - 1);
  if (end > begin) {
    madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
  }
}

// Memory for a large table that lives long and grows: an anonymous mapping
// (zero-filled by the kernel, so nothing is written before it is used),
// the huge-page hint on all of it, grown with mremap, which moves the pages
// instead of copying them into fresh memory as a std::vector's or
// std::string's growth (or realloc below glibc's mmap threshold) does.
// Throws std::bad_alloc when the kernel refuses. Not thread-safe.
class MappedBuffer {
 public:
  MappedBuffer() = default;
  explicit MappedBuffer(size_t bytes) { Grow(bytes); }
  MappedBuffer(const MappedBuffer&) = delete;
  MappedBuffer& operator=(const MappedBuffer&) = delete;
  MappedBuffer(MappedBuffer&& other) noexcept { Swap(other); }
  MappedBuffer& operator=(MappedBuffer&& other) noexcept {
    MappedBuffer(std::move(other)).Swap(*this);
    return *this;
  }
  ~MappedBuffer() {
    if (data_ != nullptr) {
      munmap(data_, capacity_);
    }
  }

  char* data() { return data_; }
  const char* data() const { return data_; }
  size_t capacity() const { return capacity_; }

  // At least `bytes` of capacity, the new part zero; the contents stay.
  void Grow(size_t bytes) {
    if (bytes <= capacity_) {
      return;
    }
    constexpr size_t kPage = 4096;
    const size_t capacity = (bytes + kPage - 1) & ~(kPage - 1);
    void* data = data_ == nullptr ? mmap(nullptr, capacity, PROT_READ | PROT_WRITE,
                                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                                  : mremap(data_, capacity_, capacity, MREMAP_MAYMOVE);
    if (data == MAP_FAILED) {
      throw std::bad_alloc();
    }
    data_ = static_cast<char*>(data);
    capacity_ = capacity;
    // On all of it: the hint on a part would split the mapping in two, and
    // mremap moves only one mapping.
    madvise(data_, capacity_, MADV_HUGEPAGE);
  }

  void Swap(MappedBuffer& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(capacity_, other.capacity_);
  }

 private:
  char* data_ = nullptr;
  size_t capacity_ = 0;
};

}  // namespace hostca
