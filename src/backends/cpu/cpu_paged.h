// The CPU reference of the paged cache-side ops (backends/paged_ops.h): clear fp32 loops over
// host pools, the oracle of the CUDA kernels (backends/cuda/sm90/paged/). Every function checks
// what the host can check (shapes, and every slot / row / segment index against the sizes the
// params carry) and throws dsv4::Error naming the field and value.
//
// Numerics:
//  - stores: Fp8Ds = fake_quant_fp8(block 64, bf16_out) of the no-rope channels and bf16 of the
//    rope channels, as codes; Mxfp4 = fake_quant_fp4(block 32) as codes. Decoding is exact: the
//    decoded values equal the fake-quantized ones bit for bit (NaN payloads aside).
//  - compress_pool_paged: CpuOps::compress_pool's loop over the gathered sources (bitwise).
//  - indexer_topk: score[t, w] = Σ_h wts · max(dot(q_h, key_w), 0) in increasing h, each dot in
//    the order of cpu::dot on an AVX2+FMA CPU (16 fused lanes, lane l over i ≡ l mod 16, then
//    the hsum tree; see ref_dot), on every CPU. Selection: partial_sort of w < visible by
//    (score desc, w asc), as topk_indices.
//  - paged_attention: CpuOps::sparse_attention over the token's decoded keys (window, then
//    compressed, in list order), with the same dot / exp / axpy calls (bitwise on one machine).
#pragma once

#include <cstdint>

#include "backends/paged_ops.h"

namespace dsv4 {

// ---- slot codecs (one vector) ----
void encode_kv_slot(const float* v, int64_t D, int64_t rope_dim, KvFormat format, uint8_t* slot);
void decode_kv_slot(const uint8_t* slot, int64_t D, int64_t rope_dim, KvFormat format, float* v);
void encode_key_slot(const float* k, int64_t hd, KeyFormat format, uint8_t* slot);
void decode_key_slot(const uint8_t* slot, int64_t hd, KeyFormat format, float* k);

// The indexer's dot product: the bits cpu::dot returns on an AVX2+FMA CPU, computed with that
// order on any CPU (uses cpu::dot itself where the CPU has AVX2+FMA).
float ref_dot(const float* a, const float* b, int64_t n);

// ---- the ops ----
void cpu_kv_store(const KvStoreParams& p);
void cpu_key_store(const KeyStoreParams& p);
void cpu_kv_load(const KvLoadParams& p);
void cpu_key_load(const KeyLoadParams& p);
void cpu_compress_pool_paged(const CompressPoolParams& p);
void cpu_ring_store(const RingStoreParams& p);
void cpu_indexer_topk(const IndexerTopkParams& p);
void cpu_paged_attention(const PagedAttentionParams& p);

}  // namespace dsv4
