// The raw launches behind the layer-op headers (no checks, no Status; layer_ops.cpp checks first).
// Preconditions are the ones the headers document; each returns the launch's cudaError_t.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "backends/cuda/sm90/layer_ops/add.h"
#include "backends/cuda/sm90/layer_ops/compress_pool.h"
#include "backends/cuda/sm90/layer_ops/embed.h"
#include "backends/cuda/sm90/layer_ops/fake_quant_fp8.h"
#include "backends/cuda/sm90/layer_ops/fake_quant_nvfp4.h"
#include "backends/cuda/sm90/layer_ops/hadamard_fp4.h"
#include "backends/cuda/sm90/layer_ops/hyper_connection.h"
#include "backends/cuda/sm90/layer_ops/rms_norm.h"
#include "backends/cuda/sm90/layer_ops/rope.h"
#include "backends/cuda/sm90/layer_ops/route.h"
#include "backends/cuda/sm90/layer_ops/swiglu.h"
#include "backends/cuda/sm90/layer_ops/topk_indices.h"

namespace dsv4::cuda::detail {

cudaError_t launch_rms_norm(const RmsNormParams& p, cudaStream_t stream);
cudaError_t launch_rope(const RopeParams& p, cudaStream_t stream);
cudaError_t launch_add(const AddParams& p, cudaStream_t stream);
cudaError_t launch_swiglu(const SwigluParams& p, cudaStream_t stream);
cudaError_t launch_embed(const EmbedParams& p, cudaStream_t stream);
cudaError_t launch_compress_pool(const DenseCompressPoolParams& p, cudaStream_t stream);
// inv_global = 1 / input_scale, computed on the host as the CPU does.
cudaError_t launch_fake_quant_fp8(const FakeQuantFp8Params& p, cudaStream_t stream);
cudaError_t launch_fake_quant_nvfp4(const FakeQuantNvfp4Params& p, float inv_global, cudaStream_t stream);
// scale = 1 / sqrt(float(n)), computed on the host as core/quant.cpp does.
cudaError_t launch_hadamard_fp4(const HadamardFp4Params& p, float scale, cudaStream_t stream);
cudaError_t launch_route(const RouteParams& p, cudaStream_t stream);
cudaError_t launch_topk_indices(const TopkIndicesParams& p, cudaStream_t stream);

// hyper-connections: the number of 1024-column chunks of the projection, and the launches.
constexpr int kHcChunkCols = 1024;
inline int64_t hc_chunks(int64_t width) { return (width + kHcChunkCols - 1) / kHcChunkCols; }
cudaError_t launch_hc_pre(const HcPreParams& p, cudaStream_t stream);
cudaError_t launch_hc_post(const HcPostParams& p, cudaStream_t stream);
cudaError_t launch_hc_head(const HcHeadParams& p, cudaStream_t stream);

}  // namespace dsv4::cuda::detail
