#include "runtime/profiling_ops.h"

namespace dsv4 {

void ProfilingOps::linear(const LinearArgs& a) {
  // "layers.3.attn.wq_a" -> "linear attn.wq_a"; experts and the head keep their own names.
  std::string what = a.w != nullptr ? a.w->name : "";
  if (what.rfind("layers.", 0) == 0 || what.rfind("mtp.", 0) == 0) {
    const size_t dot = what.find('.', what.find('.') + 1);
    what = dot == std::string::npos ? what : what.substr(dot + 1);
  }
  if (what.size() > 7 && what.compare(what.size() - 7, 7, ".weight") == 0) what.resize(what.size() - 7);
  timed("linear " + what, [&] { in_.linear(a); });
}

}  // namespace dsv4
