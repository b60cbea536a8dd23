// A read-only memory mapping of a whole file (RAII). Pages are touched only when read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace dsv4 {

class MappedFile {
 public:
  MappedFile() = default;
  // Maps `path`; throws dsv4::Error naming the path and the OS error on failure.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  void reset();
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

}  // namespace dsv4
