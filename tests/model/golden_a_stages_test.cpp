// golden-a p0: every stored per-layer intermediate, compared in forward order so that a failure
// names the first stage and layer that diverged; router choices/weights compared as sets.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "golden_support.h"

namespace dsv4::test {
namespace {

struct StageResult {
  std::string name;
  bool ok = true;
  std::string detail;
};

// Expert ids of row t as a set, and the weight of each id.
StageResult compare_routing(const std::string& name, const MemoryRecorder::Entry& ids, const MemoryRecorder::Entry* weights,
                            const Expected& want_ids, const Expected* want_weights) {
  StageResult r{name, true, ""};
  const int64_t S = ids.shape.at(0), k = ids.shape.at(1);
  if (want_ids.shape != ids.shape) return {name, false, "shape " + shape_str(ids.shape) + " vs " + shape_str(want_ids.shape)};
  double worst = 0.0;
  for (int64_t t = 0; t < S && r.ok; ++t) {
    std::map<int, float> got, want;
    for (int64_t j = 0; j < k; ++j) {
      got[int(ids.values[size_t(t * k + j)])] = weights ? weights->values[size_t(t * k + j)] : 0.0f;
      want[int(want_ids.values[size_t(t * k + j)])] = want_weights ? want_weights->values[size_t(t * k + j)] : 0.0f;
    }
    std::set<int> gs, ws;
    for (auto& [e, w] : got) gs.insert(e);
    for (auto& [e, w] : want) ws.insert(e);
    if (gs != ws) {
      std::ostringstream os;
      os << "token " << t << ": experts differ";
      return {name, false, os.str()};
    }
    for (auto& [e, w] : want) worst = std::max(worst, std::fabs(double(got[e]) - double(w)));
  }
  if (worst > 1e-5) {
    r.ok = false;
    r.detail = "routing weights max|d| " + std::to_string(worst);
  }
  std::printf("[golden] %-40s sets equal, weights max|d| %.3g\n", name.c_str(), worst);
  return r;
}

TEST(GoldenAStages, EveryIntermediateOfP0InForwardOrder) {
  GoldenA& g = GoldenA::get();
  const MemoryRecorder& main_rec = g.recorder("p0");
  MemoryRecorder mtp_rec;
  ForwardOptions opts;
  opts.recorder = &mtp_rec;
  g.model().mtp_logits(g.prefill("p0").streams, g.prompt("p0"), opts);

  std::vector<const MemoryRecorder::Entry*> ours;
  for (const auto& e : main_rec.entries()) ours.push_back(&e);
  for (const auto& e : mtp_rec.entries()) ours.push_back(&e);

  std::vector<StageResult> results;
  std::set<std::string> checked;
  for (const MemoryRecorder::Entry* e : ours) {
    const std::string golden = "intermediates/p0/" + e->name;
    if (!g.has(golden) || checked.count(golden)) continue;
    checked.insert(golden);
    const Expected want = g.tensor(golden);
    if (e->name.ends_with("moe_expert_weights")) continue;  // checked with the ids
    if (e->name.ends_with("moe_expert_ids")) {
      const std::string wname = e->name.substr(0, e->name.size() - 3) + "weights";
      const MemoryRecorder& rec = e->name.starts_with("mtp/") ? mtp_rec : main_rec;
      const Expected want_w = g.tensor("intermediates/p0/" + wname);
      results.push_back(compare_routing(e->name, *e, rec.find(wname), want, &want_w));
      checked.insert("intermediates/p0/" + wname);
      continue;
    }
    StageResult r{e->name, true, ""};
    if (want.shape != e->shape) {
      r.ok = false;
      r.detail = "shape " + shape_str(e->shape) + " vs expected " + shape_str(want.shape);
    } else {
      const Comparison c = compare(e->values, want.values);
      const double tol = 1e-4 * std::max(1.0, c.ref_max);
      std::printf("[golden] %-40s max|d| %.3g  rel_l2 %.3g  ref max %.3g\n", e->name.c_str(), c.max_abs, c.rel_l2,
                  c.ref_max);
      if (!(c.max_abs <= tol)) {
        r.ok = false;
        r.detail = "max|d| " + std::to_string(c.max_abs) + " > " + std::to_string(tol) + " at flat index " +
                   std::to_string(c.worst);
      }
    }
    results.push_back(r);
  }

  for (const StageResult& r : results) {
    if (!r.ok) {
      ADD_FAILURE() << "first diverging stage: " << r.name << " (" << r.detail << ")";
      break;
    }
  }
  for (const StageResult& r : results) EXPECT_TRUE(r.ok) << r.name << ": " << r.detail;

  // Every intermediate the golden set provides was compared.
  int provided = 0;
  for (const std::string& name : {std::string("embed"), std::string("hc_head_out"), std::string("final_norm_out")})
    provided += g.has("intermediates/p0/" + name) ? 1 : 0;
  for (int l = 0; l < g.model().config().num_layers; ++l)
    for (const char* s : {"attn_out", "ffn_out", "hidden_streams", "moe_expert_ids", "moe_expert_weights", "router_scores"})
      provided += g.has("intermediates/p0/layer" + std::to_string(l) + "/" + s) ? 1 : 0;
  for (const char* s : {"attn_out", "ffn_out", "main_hidden_streams_last_layer", "moe_expert_ids", "moe_expert_weights"})
    provided += g.has(std::string("intermediates/p0/mtp/") + s) ? 1 : 0;
  EXPECT_EQ(int(checked.size()), provided);
  EXPECT_GE(provided, 40);
}

}  // namespace
}  // namespace dsv4::test
