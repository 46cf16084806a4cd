#!/usr/bin/env python3
"""Step time and bytes of data-parallel training at many ranks, modelled
from figures measured on one machine (a model, not a measurement).

Ring allreduce of S bytes over P ranks moves 2 (P-1)/P * S bytes through
each rank's link in 2 (P-1) latency-bound hops, once per bucket
(comm.bucket_kb, 256 KiB by default):
    t_comm = 2 (P-1)/P * S / bandwidth + buckets * 2 (P-1) * alpha
Compute scales with the images a rank processes. Bucketed allreduce
overlaps communication with backward, at best hiding all of it behind the
backward share of the step; we report the non-overlapped (worst) and the
ideally overlapped step time.

usage: scaling_model.py US_PER_IMAGE_REF US_PER_IMAGE_FF BYTES_REF BYTES_FF [BACKWARD_SHARE]
  US_PER_IMAGE_*: measured compute time per training image on one core (µs)
  BYTES_*: gradient bytes allreduced per step (fp32)
"""
import sys


def step_ms(us_per_image, bytes_, ranks, per_rank_batch, gbit, alpha_us, backward_share):
    compute = us_per_image * per_rank_batch / 1e3
    bandwidth = gbit * 1e9 / 8  # bytes/s
    buckets = -(-bytes_ // (256 * 1024))
    comm = (2 * (ranks - 1) / ranks * bytes_ / bandwidth
            + buckets * 2 * (ranks - 1) * alpha_us * 1e-6) * 1e3
    hidden = min(comm, compute * backward_share)
    return compute, comm, compute + comm, compute + comm - hidden


def main():
    if len(sys.argv) < 5:
        print(__doc__)
        return 2
    us_ref, us_ff = float(sys.argv[1]), float(sys.argv[2])
    b_ref, b_ff = float(sys.argv[3]), float(sys.argv[4])
    share = float(sys.argv[5]) if len(sys.argv) > 5 else 2 / 3
    links = [(10, 10.0), (100, 2.0)]  # (Gbit/s, per-hop latency in µs)
    print("| ranks | link | global batch | model | compute ms | allreduce ms | step ms "
          "(no overlap) | step ms (overlapped) | comm share | img/s |")
    print("| ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for ranks in (64, 1024):
        for gbit, alpha in links:
            for label, per_rank in (("64 (strong)", 64 / ranks), (f"{64 * ranks} (weak)", 64)):
                for name, us, b in (("reference", us_ref, b_ref), ("Fastfood 1024", us_ff, b_ff)):
                    c, m, s, so = step_ms(us, b, ranks, per_rank, gbit, alpha, share)
                    images = per_rank * ranks
                    print(f"| {ranks} | {gbit} Gbit/s, {alpha:g} µs | {label} | {name} | {c:.3f} | "
                          f"{m:.3f} | {s:.3f} | {so:.3f} | {100 * m / s:.0f}% | "
                          f"{images / so * 1e3:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
