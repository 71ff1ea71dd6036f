"""Benchmark: fingerprinting source folders and data.

    .venv/bin/python bench/fingerprint.py [--repeats 5] [--write]

1. An unchanged source folder of 10,000 files (100 folders; sizes 200 B to 64 KiB, median about
   2 KiB, like a code base): warm (stat + the local index) against cold (no index: every file
   hashed). Targets: warm <= 0.2 s and >= 10x faster than cold; and warm <= 2x the stat-walk
   floor, ``find DIR -printf '%s %T@\\n'`` on the same folder (a C program that only stats).
2. 1 GiB in 1,000 files, cold, against ``cat`` of the same files to /dev/null, with the page
   cache warm for both (each is run once before measuring). Target: <= 1.3x.
Runs alternate between the contenders; medians are reported.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from report import write_section  # noqa: E402

from airflow_mlpipe.reuse.fingerprint import HashCache, source_snapshot  # noqa: E402


def make_source_tree(root: Path, files: int) -> int:
    rng = random.Random(42)
    total = 0
    old = time.time() - 3600
    for i in range(files):
        folder = root / f"pkg{i % 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        size = min(65536, max(200, int(rng.lognormvariate(7.6, 1.0))))
        path = folder / f"module_{i}.py"
        path.write_bytes(rng.randbytes(size))
        os.utime(path, (old, old))
        total += size
    return total


def make_data(root: Path, files: int, size: int) -> None:
    root.mkdir(parents=True)
    block = os.urandom(size)
    for i in range(files):
        (root / f"part-{i:04d}.bin").write_bytes(block[i % 251 :] + block[: i % 251])


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mlpipe-bench-fp-"))
    try:
        src = work / "src"
        total = make_source_tree(src, 10_000)
        print(f"source tree: 10,000 files, {total / 2**20:.1f} MiB", flush=True)
        colds, warms, finds = [], [], []

        def find() -> None:
            subprocess.run(["find", str(src), "-printf", "%s %T@\n"], stdout=subprocess.DEVNULL, check=True)

        for i in range(args.repeats):
            index = HashCache(work / f"index-{i}")
            colds.append(timed(lambda index=index: source_snapshot(src, index)))
            warms.append(min(timed(lambda index=index: source_snapshot(src, index)) for _ in range(3)))
            finds.append(min(timed(find) for _ in range(3)))
            print(
                f"  repeat {i + 1}: cold {colds[-1]:.3f}s, warm {warms[-1]:.3f}s, find -printf {finds[-1]:.3f}s",
                flush=True,
            )
        data = work / "data"
        make_data(data, 1000, 1 << 20)
        files = sorted(str(p) for p in data.iterdir())

        def cat() -> None:
            subprocess.run(["cat", *files], stdout=subprocess.DEVNULL, check=True)

        def hash_cold() -> None:
            source_snapshot(data, None)

        cat()
        hash_cold()
        cats, hashes = [], []
        for i in range(args.repeats):
            cats.append(timed(cat))
            hashes.append(timed(hash_cold))
            print(f"  repeat {i + 1}: cat {cats[-1]:.3f}s, fingerprint {hashes[-1]:.3f}s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cold, warm, floor = statistics.median(colds), statistics.median(warms), statistics.median(finds)
    c, h = statistics.median(cats), statistics.median(hashes)
    ok1 = warm <= 0.2 and cold / warm >= 10 and warm / floor <= 2
    ok2 = h / c <= 1.3
    table = "\n".join(
        [
            f"Medians of {args.repeats} alternated repeats (warm and the stat walk: best of 3 per repeat).",
            "",
            "| measurement | median | target | met |",
            "|---|---|---|---|",
            f"| unchanged 10,000-file source folder, warm (stat + index) | {warm:.3f} s | <= 0.2 s | {'yes' if warm <= 0.2 else 'NO'} |",
            f"| same folder, cold (no index, every file hashed) | {cold:.3f} s | | |",
            f"| cold / warm | {cold / warm:.1f}x | >= 10x | {'yes' if cold / warm >= 10 else 'NO'} |",
            f"| same folder: `find -printf '%s %T@'` (stat walk, best of 3) | {floor:.3f} s | baseline | |",
            f"| warm / stat walk | {warm / floor:.2f}x | <= 2x | {'yes' if warm / floor <= 2 else 'NO'} |",
            f"| 1 GiB in 1,000 files: `cat > /dev/null` | {c:.3f} s | baseline | |",
            f"| 1 GiB in 1,000 files: cold fingerprint (xxh3-128) | {h:.3f} s | | |",
            f"| fingerprint / cat | {h / c:.2f}x | <= 1.3x | {'yes' if ok2 else 'NO'} |",
        ]
    )
    print(table)
    if args.write:
        write_section(
            "Fingerprinting sources and data (`bench/fingerprint.py`)",
            table,
            "python bench/fingerprint.py --write",
        )
    if not (ok1 and ok2):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
