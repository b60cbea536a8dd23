# cuBLASLt FP8 reference rates through PyTorch (torch._scaled_mm), for bench_gemm's comparison:
#  * per-tensor scaled e4m3 x e4m3 -> bf16 on a large GEMM (the dense FP8 rate) and on the linear shapes;
#  * the block-scaled modes (activations 1x128, weights 128x128: cuBLASLt VEC128_32F / BLK128x128_32F),
#    trying the scale layouts PyTorch accepts; prints whether sm_90 runs them and how fast.
# Times: median of CUDA-event-timed calls after warm-up (weights not rotated: an upper bound at decode).
import sys
import torch

def t_us(fn, reps=20, warm=3):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        a = torch.cuda.Event(enable_timing=True); b = torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record(); b.synchronize()
        ts.append(a.elapsed_time(b) * 1000.0)
    ts.sort()
    return ts[len(ts) // 2]

dev = torch.device("cuda")
print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))
f8 = torch.float8_e4m3fn

def per_tensor(M, N, K):
    a = torch.randn(M, K, device=dev).to(f8)
    w = torch.randn(N, K, device=dev).to(f8)
    one = torch.tensor(1.0, device=dev)
    fn = lambda: torch._scaled_mm(a, w.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
    return t_us(fn)

def blockwise(M, N, K):
    a = torch.randn(M, K, device=dev).to(f8)
    w = torch.randn(N, K, device=dev).to(f8)
    sa = torch.rand(M, K // 128, device=dev) + 0.5
    sb = torch.rand(N // 128, K // 128, device=dev) + 0.5
    errs = []
    tries = [
        ("sa[M,K/128] M-major, sb[N/128,K/128]", lambda: (sa.t().contiguous().t(), sb)),
        ("sa[M,K/128], sb[N/128,K/128]", lambda: (sa, sb)),
        ("sa[M,K/128] M-major, sb.t()", lambda: (sa.t().contiguous().t(), sb.t())),
        ("sa[M,K/128] M-major, sb[K/128,N/128] contig", lambda: (sa.t().contiguous().t(), sb.t().contiguous())),
    ]
    for name, mk in tries:
        try:
            s_a, s_b = mk()
            fn = lambda: torch._scaled_mm(a, w.t(), scale_a=s_a, scale_b=s_b, out_dtype=torch.bfloat16)
            fn(); torch.cuda.synchronize()
            return t_us(fn), name
        except Exception as e:  # noqa
            errs.append(f"{name}: {str(e).splitlines()[0][:160]}")
    return None, " | ".join(errs)

us = per_tensor(8192, 8192, 8192)
print(f"dense per-tensor FP8 8192^3: {us:.1f} us = {2*8192**3/us/1e6:.1f} TFLOP/s")
shapes = [("flash.wq_a", 1024, 4096), ("flash.wq_b", 32768, 1024), ("flash.wkv", 512, 4096), ("flash.wo_b", 4096, 8192),
          ("flash.shared.w1", 2048, 4096), ("flash.shared.w2", 4096, 2048), ("pro.wq_a", 1536, 7168),
          ("pro.wq_b", 65536, 1536), ("pro.wo_b", 7168, 16384)]
print(f"{'shape':18s} {'M':>6s} {'pertensor_us':>12s} {'TFLOP/s':>8s} {'block_us':>10s} {'TFLOP/s':>8s}")
first_err = None
for name, N, K in shapes:
    for M in (1, 8, 32, 64, 4096):
        Mp = max(M, 16)  # cuBLASLt FP8 needs M % 16 == 0
        pt = per_tensor(Mp, N, K)
        bw, how = blockwise(Mp, N, K)
        if bw is None and first_err is None:
            first_err = how
        fl = 2 * M * N * K
        bws = f"{bw:10.1f} {fl/bw/1e6:8.1f}" if bw is not None else f"{'n/a':>10s} {'':8s}"
        print(f"{name:18s} {M:6d} {pt:12.1f} {fl/pt/1e6:8.1f} {bws}", flush=True)
if first_err:
    print("blockwise failed:", first_err)
else:
    print("blockwise layout used:", how)
