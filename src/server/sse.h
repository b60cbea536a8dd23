// Server-sent events: writing them (OpenAI: "data: {...}\n\n"; Anthropic adds "event: NAME\n")
// and splitting a received stream back into events (for the benchmark client and the tests).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dsv4::server {

inline std::string sse_data(std::string_view json) { return "data: " + std::string(json) + "\n\n"; }
inline std::string sse_event(std::string_view name, std::string_view json) {
  return "event: " + std::string(name) + "\ndata: " + std::string(json) + "\n\n";
}

struct SseEvent {
  std::string event;  // "" when the event had no event: line
  std::string data;
};

// Incremental parser: feed bytes as they arrive, get back the events completed by them.
class SseParser {
 public:
  std::vector<SseEvent> feed(std::string_view bytes) {
    buffer_.append(bytes);
    std::vector<SseEvent> out;
    size_t start = 0, end;
    while ((end = buffer_.find("\n\n", start)) != std::string::npos) {
      SseEvent e;
      std::string_view block(buffer_.data() + start, end - start);
      while (!block.empty()) {
        const size_t nl = block.find('\n');
        const std::string_view line = block.substr(0, nl);
        if (line.rfind("data: ", 0) == 0) e.data += std::string(line.substr(6));
        else if (line.rfind("event: ", 0) == 0) e.event = std::string(line.substr(7));
        if (nl == std::string_view::npos) break;
        block.remove_prefix(nl + 1);
      }
      out.push_back(std::move(e));
      start = end + 2;
    }
    buffer_.erase(0, start);
    return out;
  }
  bool idle() const { return buffer_.empty(); }  // no partial event held

 private:
  std::string buffer_;
};

}  // namespace dsv4::server
