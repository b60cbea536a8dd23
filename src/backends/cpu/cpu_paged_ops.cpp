// The CpuOps entries of the paged cache ops: the CPU reference of backends/cpu/cpu_paged.h.
#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/cpu_paged.h"

namespace dsv4 {

void CpuOps::kv_store(const KvStoreParams& p) { cpu_kv_store(p); }
void CpuOps::key_store(const KeyStoreParams& p) { cpu_key_store(p); }
void CpuOps::kv_load(const KvLoadParams& p) { cpu_kv_load(p); }
void CpuOps::key_load(const KeyLoadParams& p) { cpu_key_load(p); }
void CpuOps::compress_pool_paged(const CompressPoolParams& p) { cpu_compress_pool_paged(p); }
void CpuOps::ring_store(const RingStoreParams& p) { cpu_ring_store(p); }
void CpuOps::indexer_topk(const IndexerTopkParams& p) { cpu_indexer_topk(p); }
void CpuOps::paged_attention(const PagedAttentionParams& p) { cpu_paged_attention(p); }

}  // namespace dsv4
