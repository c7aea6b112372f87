"""Generated kernels against torch and against their own GEMMs, interleaved in one
process (lstm_sym.bench.measure): generated/torch and the GEMM-only floor/torch.

    python benchmarks/bench_kernels.py [cell ...] [--dtype float32|float64] [--small]
"""
import argparse

import numpy as np

from lstm_sym.bench import measure

SIZES = [(64, 256, 256, 100), (32, 128, 128, 50)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cells", nargs="*", default=["lstm"])
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--small", action="store_true", help="only (32, 128, 128, 50)")
    ap.add_argument("--repeat", type=int, default=7)
    a = ap.parse_args()
    sizes = SIZES[1:] if a.small else SIZES
    for cell in a.cells:
        for row in measure(cell, sizes, dtype=np.dtype(a.dtype), repeat=a.repeat):
            med = row["median"]
            torch = med.get("torch", float("nan"))
            print(f"{cell:14s} {a.dtype} {row['sizes']}: generated {med['generated'] * 1e3:7.1f} ms  "
                  f"torch {torch * 1e3:7.1f} ms  generated/torch {med['generated'] / torch:.2f}x  "
                  f"GEMMs/torch {med['numpy GEMMs'] / torch:.2f}x  "
                  f"min gen/torch {min(row['times']['generated']) / min(row['times'].get('torch', [np.nan])):.2f}x",
                  flush=True)


if __name__ == "__main__":
    main()
