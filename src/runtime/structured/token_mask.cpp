#include "runtime/structured/token_mask.h"

namespace dsv4::structured {

void TokenMasker::walk(const Matcher& m, const FlatTrie& t, const MatchState& s, std::vector<uint64_t>& bits) {
  const size_t n = t.size();
  size_t i = 1;
  while (i < n) {
    const size_t d = t.depth[i];
    if (level_.size() <= d) level_.resize(d + 1);
    const MatchState& parent = d == 1 ? s : level_[d - 1];
    ++stats_.nodes_fed;
    if (!m.feed(parent, t.byte[i], level_[d])) {
      i = t.skip[i];
      continue;
    }
    for (uint32_t k = t.ids_begin[i]; k < t.ids_begin[i + 1]; ++k) {
      const uint32_t id = uint32_t(t.ids[k]);
      bits[id / 64] |= uint64_t(1) << (id % 64);
    }
    ++i;
  }
}

void TokenMasker::compute(const Matcher& m, const TokenTrie& vocab, const MatchState& s, std::vector<uint64_t>& bits,
                          bool plain_fast_path) {
  stats_ = {};
  const size_t words = (size_t(vocab.vocab_size()) + 63) / 64;
  uint32_t room = 0;
  const std::optional<PlainKind> plain = plain_fast_path ? m.plain_run(s, room) : std::nullopt;
  if (plain) {
    stats_.plain_fast_path = true;
    const std::vector<uint64_t>& up_to = vocab.plain_up_to(room, *plain);
    bits.assign(up_to.begin(), up_to.end());
    walk(m, vocab.not_plain(*plain), s, bits);
  } else {
    bits.assign(words, 0);
    walk(m, vocab.all(), s, bits);
  }
}

}  // namespace dsv4::structured
