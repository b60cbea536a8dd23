#include "server/stop_trimmer.h"

#include <algorithm>

namespace dsv4::server {

StopTrimmer::StopTrimmer(std::vector<std::string> stops) : stops_(std::move(stops)) {
  for (const std::string& s : stops_) hold_ = std::max(hold_, s.empty() ? 0 : s.size() - 1);
}

std::string StopTrimmer::push(std::string_view text) {
  if (stopped_) return {};
  held_.append(text);
  size_t first = std::string::npos;
  for (const std::string& s : stops_) {
    if (s.empty()) continue;
    first = std::min(first, held_.find(s));
  }
  if (first != std::string::npos) {
    std::string out = held_.substr(0, first);
    held_.clear();
    stopped_ = true;
    return out;
  }
  if (held_.size() <= hold_) return {};
  size_t cut = held_.size() - hold_;
  while (cut > 0 && (static_cast<unsigned char>(held_[cut]) & 0xC0) == 0x80) --cut;  // not inside a character
  std::string out = held_.substr(0, cut);
  held_.erase(0, cut);
  return out;
}

std::string StopTrimmer::finish() {
  if (stopped_) return {};
  std::string out;
  out.swap(held_);
  return out;
}

}  // namespace dsv4::server
