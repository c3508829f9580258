"""Timing: interleaved and paired rounds, percentiles with intervals (bench.py), `edgebert bench` on a dist
folder (bench_dist.py) and the host CPU every timing records (machine.py)."""
