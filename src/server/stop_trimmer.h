// Stop strings in streamed text (OpenAI semantics: the output ends before the stop string,
// which is not returned). Text that could still be the start of a stop string is held back
// until it is certain; released text is always whole UTF-8.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dsv4::server {

class StopTrimmer {
 public:
  explicit StopTrimmer(std::vector<std::string> stops);
  // Returns the text that is certainly output now (possibly empty).
  std::string push(std::string_view text);
  // End of stream: what is still held (cut at a stop string when one is there).
  std::string finish();
  bool stopped() const { return stopped_; }  // a stop string was found; later text is dropped

 private:
  std::vector<std::string> stops_;
  size_t hold_ = 0;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace dsv4::server
