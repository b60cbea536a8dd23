#!/usr/bin/env python3
"""PyTorch baseline for bench_dequant: the same matrices, the same byte accounting.

FP8 block:  (w.view(float8_e4m3fn).float() * 2^(s-127) per 128x128 block).bfloat16()
MXFP4:      (lut[e2m1 nibbles] * 2^(s-127) per 1x32 group).bfloat16()
Each is timed eager, through torch.compile (Inductor fuses it into one Triton kernel: the best
baseline available on the device), and that compiled function replayed from a CUDA graph of the
whole batch (no Python dispatch between kernels: what the Triton kernel itself costs, fair to it on
small matrices). Times: median over CUDA-event-timed batches after warm-up,
inputs rotated so that small cases are not served from L2. Bytes moved = codes + scales read +
bf16 written. Prints RESULT lines like bench_dequant's, then a table.
"""
import math
import sys

import torch

REPS = 30
CASES = [  # name, fp8?, rows, cols
    ("wq_b", True, 32768, 1024),
    ("wo_a", True, 8192, 4096),
    ("expert.w1", False, 2048, 4096),
    ("256 experts w1", False, 256 * 2048, 4096),
]

dev = torch.device("cuda")
props = torch.cuda.get_device_properties(0)
L2 = props.L2_cache_size

E2M1 = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0,
                     -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0], device=dev)


def fp8_dequant(w, s):
    r, c = w.shape
    x = w.view(torch.float8_e4m3fn).float().view(r // 128, 128, c // 128, 128)
    scale = torch.exp2(s.float() - 127.0)
    return (x * scale[:, None, :, None]).view(r, c).bfloat16()


def mxfp4_dequant(w, s):
    r, half = w.shape
    c = 2 * half
    codes = torch.stack([w & 0xF, w >> 4], dim=-1).view(r, c).long()
    x = E2M1[codes].view(r, c // 32, 32)
    scale = torch.exp2(s.float() - 127.0)
    return (x * scale[..., None]).view(r, c).bfloat16()


def median_ms(fn, per_batch, reps=REPS):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(reps):
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) / per_batch)
    times.sort()
    return times[len(times) // 2]


def copy_gbs():
    n = 1 << 30
    a = torch.empty(n, dtype=torch.uint8, device=dev).fill_(0x3C)
    b = torch.empty_like(a)
    ms = median_ms(lambda: b.copy_(a), 1)
    return 2 * n / (ms * 1e-3) / 1e9


def make_inputs(fp8, rows, cols, gen):
    if fp8:
        w = torch.randint(0, 256, (rows, cols), dtype=torch.uint8, device=dev, generator=gen)
        w[(w & 0x7F) == 0x7F] ^= 1  # no NaN codes, as in a checkpoint
        s = torch.randint(118, 130, ((rows + 127) // 128, (cols + 127) // 128), dtype=torch.uint8, device=dev,
                          generator=gen)
    else:
        w = torch.randint(0, 256, (rows, cols // 2), dtype=torch.uint8, device=dev, generator=gen)
        s = torch.randint(118, 130, (rows, cols // 32), dtype=torch.uint8, device=dev, generator=gen)
    return w, s


def main():
    gen = torch.Generator(device=dev)
    gen.manual_seed(20261122)
    cp = copy_gbs()
    print(f"device: {props.name}, {props.multi_processor_count} SMs, torch {torch.__version__}")
    print(f"RESULT case=copy format=torch.copy_ shape=1GiB path=torch GBps={cp:.1f} copy_fraction=1.000", flush=True)
    rows_out = []
    for name, fp8, rows, cols in CASES:
        n = rows * cols
        moved = (n if fp8 else n // 2) + (math.ceil(rows / 128) * math.ceil(cols / 128) if fp8 else n // 32) + 2 * n
        sets = max(1, min(16, math.ceil(4 * L2 / moved)))
        inputs = [make_inputs(fp8, rows, cols, gen) for _ in range(sets)]
        per_batch = max(sets, (256 << 20) // moved)
        fn = fp8_dequant if fp8 else mxfp4_dequant
        compiled = torch.compile(fn, dynamic=False, fullgraph=True)
        reference = None

        def graphed_batch(f=compiled):
            # One CUDA graph holding the whole batch of compiled calls; returns its replay.
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for k in range(min(per_batch, 3)):
                    f(*inputs[k % sets])
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            keep = []
            with torch.cuda.graph(graph):
                for k in range(per_batch):
                    keep.append(f(*inputs[k % sets]))
            graph.keep = keep
            return graph

        for label, f in (("torch-eager", fn), ("torch-compile", compiled), ("torch-compile+graph", None)):
            try:
                if f is None:
                    graph = graphed_batch()
                    graph.replay()
                    torch.cuda.synchronize()
                    out = graph.keep[0]
                else:
                    out = f(*inputs[0])
                    torch.cuda.synchronize()
                if reference is None:
                    reference = out
                elif not torch.equal(out.view(torch.int16), reference.view(torch.int16)):
                    print(f"WARNING {name}: {label} differs from eager", flush=True)
                del out

                if f is None:
                    def batch():
                        graph.replay()
                else:
                    def batch():
                        for k in range(per_batch):
                            f(*inputs[k % sets])

                ms = median_ms(batch, per_batch)
                gbs = moved / (ms * 1e-3) / 1e9
                rows_out.append((name, "fp8-block128" if fp8 else "mxfp4", f"[{rows}, {cols}]", label, moved / 1e6,
                                 ms * 1e3, gbs, gbs / cp))
                print(f"RESULT case={name} format={'fp8-block128' if fp8 else 'mxfp4'} shape=[{rows}, {cols}] "
                      f"path={label} bytes={moved} us={ms * 1e3:.2f} GBps={gbs:.1f} copy_fraction={gbs / cp:.3f}",
                      flush=True)
            except Exception as e:  # noqa: BLE001 - an unavailable baseline is reported, not fatal
                print(f"RESULT case={name} path={label} FAILED {type(e).__name__}: {str(e).splitlines()[0]}",
                      flush=True)
            graph = None
            torch.cuda.empty_cache()
        del inputs, reference
        torch.cuda.empty_cache()

    print(f"\nPyTorch baseline on {props.name}; copy bandwidth (torch copy_, read+write) {cp:.1f} GB/s")
    print(f"{'case':16} {'format':13} {'shape':16} {'path':19} {'MB moved':>10} {'time us':>10} {'GB/s':>9} {'of copy':>7}")
    for r in rows_out:
        print(f"{r[0]:16} {r[1]:13} {r[2]:16} {r[3]:19} {r[4]:10.1f} {r[5]:10.1f} {r[6]:9.1f} {100 * r[7]:6.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
