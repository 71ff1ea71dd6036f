"""A trivial step of bench/celery_throughput.py: prints its parameter and index."""

import argparse

p = argparse.ArgumentParser()
p.add_argument("--tag")
p.add_argument("--index")
a = p.parse_args()
print(f"step {a.index} tag={a.tag}")
