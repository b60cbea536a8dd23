// The decode cache as the forward pass sees it (spec §11): per sequence and layer, the window
// K=V vectors by absolute position, the compressed entries and indexer keys by entry index, and
// the compressors' partial state (a ring of per-token kv/gate projections, see cache_layout.h).
// The model owns this interface (as it owns the ops interface); cache/ implements it: storage
// lives with the backend (HostKvCache: host arrays for the CPU), and which block holds what is
// the CacheManager's bookkeeping, shared by every backend.
//
// Positions and entries a read asks for must have been written (the forward pass guarantees it
// by processing a sequence's tokens in order); a read of a window block that already slid out of
// the window is an error.
#pragma once

#include <cstdint>


namespace dsv4 {

using SequenceId = int64_t;

// Which compressed vectors: attention entries (head_dim) or indexer keys (index_head_dim).
enum class CacheRole : uint8_t { Attention, Indexer };

class KvCache {
 public:
  virtual ~KvCache() = default;

  // Window K=V of `layer` (decoder layer index, MTP block = num_layers + i): n vectors [n, D]
  // for positions pos0 .. pos0+n-1.
  virtual void read_window(SequenceId seq, int layer, int64_t pos0, int64_t n, float* out) const = 0;
  // Writes the vectors of positions pos0 .. pos0+n-1; positions whose window block has already
  // slid out of the sequence's window (a long prefill) are skipped.
  virtual void write_window(SequenceId seq, int layer, int64_t pos0, int64_t n, const float* kv) = 0;

  // Compressed entries w0 .. w0+n-1 of a compressed layer ([n, dim] with dim = D or c_I).
  virtual void read_entries(SequenceId seq, int layer, CacheRole role, int64_t w0, int64_t n, float* out) const = 0;
  virtual void write_entries(SequenceId seq, int layer, CacheRole role, int64_t w0, int64_t n, const float* e) = 0;

  // Compressor partial state: the kv and gate projections (coff·D_c wide) of positions
  // pos0 .. pos0+n-1. Only the last compressor_ring_tokens(ratio) positions written survive.
  virtual void read_compressor(SequenceId seq, int layer, CacheRole role, int64_t pos0, int64_t n, float* kv,
                               float* gate) const = 0;
  virtual void write_compressor(SequenceId seq, int layer, CacheRole role, int64_t pos0, int64_t n, const float* kv,
                                const float* gate) = 0;
};

}  // namespace dsv4
