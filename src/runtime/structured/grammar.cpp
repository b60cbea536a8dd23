#include "runtime/structured/grammar.h"

#include <utility>

#include "core/error.h"

namespace dsv4::structured {

namespace {

constexpr uint32_t kUnresolved = std::numeric_limits<uint32_t>::max();

std::string where(const Node& n) { return n.path.empty() ? std::string("/") : n.path; }

// Nodes that accept at least one finite value (least fixpoint).
std::vector<uint8_t> productive_nodes(const Grammar& g) {
  std::vector<uint8_t> prod(g.nodes.size(), 0);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      if (prod[i]) continue;
      const Node& n = g.nodes[i];
      bool p = false;
      switch (n.kind) {
        case NodeKind::Literal:
        case NodeKind::Number:
        case NodeKind::Integer:
        case NodeKind::FreeObject: p = true; break;
        case NodeKind::String: p = n.min <= n.max; break;
        case NodeKind::Ref: p = prod[n.children[0]] != 0; break;
        case NodeKind::AnyOf:
          for (uint32_t c : n.children) p = p || prod[c];
          break;
        case NodeKind::Array: p = n.min <= n.max && (n.min == 0 || prod[n.children[0]]); break;
        case NodeKind::Object:
          p = true;
          for (const Property& q : n.properties) p = p && (!q.required || prod[q.node]);
          break;
        case NodeKind::Sequence:
          p = true;
          for (uint32_t c : n.children) p = p && prod[c];
          break;
        case NodeKind::Text: p = n.min <= n.max; break;
        case NodeKind::Ordered:
          p = prod[n.children[0]] && prod[n.children[1]];
          for (const Property& q : n.properties) p = p && (!q.required || prod[q.node]);
          break;
      }
      if (p) {
        prod[i] = 1;
        changed = true;
      }
    }
  }
  return prod;
}

// The nodes a node may hand the same byte to (entered before it consumes anything).
std::vector<uint32_t> entered_without_input(const Grammar& g, const Node& n) {
  switch (n.kind) {
    case NodeKind::Ref:
    case NodeKind::AnyOf: return n.children;
    case NodeKind::Sequence: {  // the first part, and past texts (which may be empty) the next ones
      std::vector<uint32_t> out;
      for (uint32_t c : n.children) {
        out.push_back(c);
        if (g.nodes[c].kind != NodeKind::Text) break;
      }
      return out;
    }
    case NodeKind::Ordered: {
      std::vector<uint32_t> out = n.children;
      for (const Property& p : n.properties) out.push_back(p.node);
      return out;
    }
    default: return {};
  }
}

// A cycle through such edges would make the matcher expand forever without input.
void check_no_empty_cycle(const Grammar& g) {
  std::vector<uint8_t> color(g.nodes.size(), 0);  // 0 new, 1 on the path, 2 done
  std::vector<std::pair<uint32_t, size_t>> stack;
  for (uint32_t start = 0; start < g.nodes.size(); ++start) {
    if (color[start]) continue;
    stack.push_back({start, 0});
    color[start] = 1;
    while (!stack.empty()) {
      auto& [i, next] = stack.back();
      const std::vector<uint32_t> edges = entered_without_input(g, g.nodes[i]);
      if (next == edges.size()) {
        color[i] = 2;
        stack.pop_back();
        continue;
      }
      const uint32_t c = edges[next++];
      if (color[c] == 1) fail("JSON schema: $ref cycle that accepts no input at {}", where(g.nodes[c]));
      if (color[c] == 0) {
        color[c] = 1;
        stack.push_back({c, 0});
      }
    }
  }
}

void index_properties(Node& n) {
  const size_t count = n.properties.size();
  n.candidates_end.assign(count + 1, uint32_t(count));
  n.can_close.assign(count + 1, 1);
  uint32_t next_required = uint32_t(count);
  for (size_t i = count; i-- > 0;) {
    if (n.properties[i].required) next_required = uint32_t(i);
    n.candidates_end[i] = next_required == count ? uint32_t(count) : next_required + 1;
    n.can_close[i] = next_required == count;
  }
}

}  // namespace

GrammarBuilder::GrammarBuilder() { g_.key_string = string(0, std::numeric_limits<uint32_t>::max(), "(object key)"); }

uint32_t GrammarBuilder::add(Node n) {
  g_.nodes.push_back(std::move(n));
  return uint32_t(g_.nodes.size() - 1);
}

uint32_t GrammarBuilder::literal(std::string bytes, std::string path) {
  if (bytes.empty()) fail("grammar: empty literal at {}", path);
  Node n;
  n.kind = NodeKind::Literal;
  n.literal = std::move(bytes);
  n.path = std::move(path);
  return add(std::move(n));
}

uint32_t GrammarBuilder::any_of(std::vector<uint32_t> alternatives, std::string path) {
  if (alternatives.size() == 1) return alternatives[0];
  Node n;
  n.kind = NodeKind::AnyOf;
  n.children = std::move(alternatives);
  n.path = std::move(path);
  return add(std::move(n));
}

uint32_t GrammarBuilder::string(uint32_t min, uint32_t max, std::string path) {
  Node n;
  n.kind = NodeKind::String;
  n.min = min;
  n.max = max;
  n.path = std::move(path);
  return add(std::move(n));
}

uint32_t GrammarBuilder::number(std::string path) {
  Node n;
  n.kind = NodeKind::Number;
  n.path = std::move(path);
  return add(std::move(n));
}

uint32_t GrammarBuilder::integer(std::string path) {
  Node n;
  n.kind = NodeKind::Integer;
  n.path = std::move(path);
  return add(std::move(n));
}

uint32_t GrammarBuilder::boolean(std::string path) {
  const uint32_t t = literal("true", path), f = literal("false", path);
  return any_of({t, f}, std::move(path));
}

uint32_t GrammarBuilder::null(std::string path) { return literal("null", std::move(path)); }

uint32_t GrammarBuilder::array(uint32_t items, uint32_t min, uint32_t max, std::string path) {
  Node n;
  n.kind = NodeKind::Array;
  n.children = {items};
  n.min = min;
  n.max = max;
  n.path = std::move(path);
  return add(std::move(n));
}

uint32_t GrammarBuilder::object(std::vector<Property> properties, std::string path) {
  Node n;
  n.kind = NodeKind::Object;
  n.properties = std::move(properties);
  n.path = std::move(path);
  return add(std::move(n));
}

uint32_t GrammarBuilder::free_object(uint32_t values, std::string path) {
  Node n;
  n.kind = NodeKind::FreeObject;
  n.children = {values};
  n.path = std::move(path);
  return add(std::move(n));
}

uint32_t GrammarBuilder::any() {
  if (any_ >= 0) return uint32_t(any_);
  const uint32_t self = ref("(any value)");
  any_ = self;
  constexpr uint32_t kUnbounded = std::numeric_limits<uint32_t>::max();
  const uint32_t alternatives = any_of({free_object(self), array(self, 0, kUnbounded), string(0, kUnbounded), number(),
                                        literal("true"), literal("false"), literal("null")},
                                       "(any value)");
  set_ref(self, alternatives);
  return self;
}

uint32_t GrammarBuilder::ref(std::string path) {
  Node n;
  n.kind = NodeKind::Ref;
  n.children = {kUnresolved};
  n.path = std::move(path);
  return add(std::move(n));
}

uint32_t GrammarBuilder::sequence(std::vector<uint32_t> parts, std::string path) {
  if (parts.empty()) fail("grammar: empty sequence at {}", path);
  if (parts.size() == 1) return parts[0];
  Node n;
  n.kind = NodeKind::Sequence;
  n.children = std::move(parts);
  n.path = std::move(path);
  return add(std::move(n));
}

uint32_t GrammarBuilder::text(uint32_t min, uint32_t max, char end_byte, std::string path) {
  Node n;
  n.kind = NodeKind::Text;
  n.min = min;
  n.max = max;
  n.literal = std::string(1, end_byte);
  n.path = std::move(path);
  return add(std::move(n));
}

uint32_t GrammarBuilder::ordered(std::vector<Property> items, uint32_t close, uint32_t close_empty, std::string path) {
  Node n;
  n.kind = NodeKind::Ordered;
  n.properties = std::move(items);
  n.children = {close, close_empty};
  n.path = std::move(path);
  return add(std::move(n));
}

void GrammarBuilder::set_ref(uint32_t ref, uint32_t target) {
  if (ref >= g_.nodes.size() || g_.nodes[ref].kind != NodeKind::Ref) fail("grammar: node {} is not a reference", ref);
  g_.nodes[ref].children[0] = target;
}

std::shared_ptr<const Grammar> GrammarBuilder::finish(uint32_t root, GrammarLimits limits) {
  if (limits.max_whitespace > 255) fail("grammar: max_whitespace must be <= 255, got {}", limits.max_whitespace);
  if (limits.max_depth < 2) fail("grammar: max_depth must be >= 2, got {}", limits.max_depth);
  g_.root = root;
  g_.limits = limits;
  for (const Node& n : g_.nodes) {
    for (uint32_t c : n.children)
      if (c >= g_.nodes.size()) fail("JSON schema: unresolved $ref at {}", where(n));
    for (const Property& p : n.properties)
      if (p.node >= g_.nodes.size()) fail("grammar: unknown item node at {}", where(n));
    if ((n.kind == NodeKind::String || n.kind == NodeKind::Array || n.kind == NodeKind::Text) && n.min > n.max)
      fail("JSON schema: minimum {} above maximum {} at {}", n.min, n.max, where(n));
  }
  check_no_empty_cycle(g_);
  const std::vector<uint8_t> prod = productive_nodes(g_);
  if (!prod[root]) fail("JSON schema: no finite JSON value satisfies the schema at {}", where(g_.nodes[root]));
  for (Node& n : g_.nodes) {
    switch (n.kind) {
      case NodeKind::AnyOf: std::erase_if(n.children, [&](uint32_t c) { return !prod[c]; }); break;
      case NodeKind::Array:
        if (!prod[n.children[0]]) n.max = 0;
        break;
      case NodeKind::Object:
      case NodeKind::Ordered:
        std::erase_if(n.properties, [&](const Property& p) { return !p.required && !prod[p.node]; });
        index_properties(n);
        break;
      case NodeKind::FreeObject:
        if (!prod[n.children[0]]) {  // only {} remains
          n.kind = NodeKind::Object;
          n.children.clear();
          index_properties(n);
        }
        break;
      default: break;
    }
  }
  return std::make_shared<const Grammar>(std::move(g_));
}

}  // namespace dsv4::structured
