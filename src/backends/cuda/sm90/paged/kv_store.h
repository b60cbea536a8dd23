// Stores into and loads from the paged cache pools on the GPU (contract: backends/paged_ops.h).
//
// kv_store:  pool[slots[i]] = encode(vecs[i]) — F32 (a copy) or Fp8Ds (the 584-byte ds_mla layout
//            for D = 512, rope_dim = 64; general D − rope_dim a multiple of 64), bit-identical to
//            the CPU reference cpu_kv_store (backends/cpu/cpu_paged.h).
// key_store: pool[slots[i]] = encode(keys[i]) — F32 or Mxfp4 (hd a multiple of 32), bit-identical
//            to cpu_key_store.
// kv_load / key_load: out[i] = decode(pool[slots[i]]), zeros for slot -1; exact.
//
// Requirements (checked, Status names the one that failed): shapes as above; pointers non-null
// when n > 0; vecs/keys/out 16-byte aligned; pool 16-byte aligned; pool_slots >= 0. Slots are
// read on the device: -1 is skipped (zeros for loads), and so is any slot outside
// [0, pool_slots) (the kernels cannot report it; the CPU reference throws).
#pragma once

#include <cuda_runtime_api.h>

#include "backends/paged_ops.h"
#include "core/error.h"

namespace dsv4::cuda {

Status check_kv_store(const KvStoreParams& p);
Status check_key_store(const KeyStoreParams& p);
Status check_kv_load(const KvLoadParams& p);
Status check_key_load(const KeyLoadParams& p);

Status kv_store(const KvStoreParams& p, cudaStream_t stream);
Status key_store(const KeyStoreParams& p, cudaStream_t stream);
Status kv_load(const KvLoadParams& p, cudaStream_t stream);
Status key_load(const KeyLoadParams& p, cudaStream_t stream);

}  // namespace dsv4::cuda
