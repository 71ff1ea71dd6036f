"""Benchmark: 1 GiB in 100 files, Blob -> Blob on Azurite, three ways, in one run.

- server-side: ``storage.transfer_copy.copy_files`` (Copy Blob from a read-only SAS, polled, staged and
  moved into place: what a DataTransferStep does);
- through the worker, files: download each file to the worker's disk, then upload it (what a step
  does when it copies data itself);
- through the worker, streamed: ``copy_files(..., server_side=False)`` (chunks read and written as
  they arrive, staged and moved into place), in a child process whose peak RSS growth is measured.

Targets (issue 13): server-side at least 5x faster than download-and-upload; a streamed copy's peak
RSS growth under 64 MiB.

    .venv/bin/python bench/blob_copy.py [--files 100] [--mib 1024] [--runs 3] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))
from report import write_section  # noqa: E402

SPEED_TARGET = 5.0
RSS_TARGET_MIB = 64

CHILD = r"""
import json, resource, sys, time
from azure.storage.blob import BlobServiceClient
from airflow_mlpipe.storage.blob import BlobStore
from airflow_mlpipe.storage.transfer_copy import copy_files

conn, names, run = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
service = BlobServiceClient.from_connection_string(conn)
src, dst = BlobStore("-", "bench-src", service_client=service), BlobStore("-", "bench-dst", service_client=service)
src.stat(names[0])  # connections and imports are warm before the baseline is read
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
copy_files(src, [(n, f"stream-{run}/{n}") for n in names], dst, key=f"stream-{run}", server_side=False)
took = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": took, "rss_growth_kib": peak - before}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--mib", type=int, default=1024, help="total size")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    from azure.storage.blob import BlobServiceClient
    from azurite_server import azurite

    from airflow_mlpipe.storage.blob import BlobStore
    from airflow_mlpipe.storage.transfer_copy import copy_files

    size = args.mib * 1024 * 1024 // args.files
    names = [f"data/part-{i:04d}.bin" for i in range(args.files)]
    with (
        tempfile.TemporaryDirectory(prefix="mlpipe-bench-copy-") as tmp,
        azurite(Path(tmp) / "azurite") as conn,
    ):
        service = BlobServiceClient.from_connection_string(conn)
        src = BlobStore("-", "bench-src", service_client=service)
        dst = BlobStore("-", "bench-dst", service_client=service)
        print(f"uploading {args.files} files of {size / 2**20:.1f} MiB to Azurite", flush=True)
        block = os.urandom(size)
        for i, name in enumerate(names):  # distinct content per file, no second GiB in memory
            src.write_stream(name, [i.to_bytes(8, "big"), block[8:]])
        scratch = Path(tmp) / "worker"
        server, files, streamed, rss = [], [], [], []
        for run in range(args.runs):
            t0 = time.perf_counter()
            copy_files(src, [(n, f"server-{run}/{n}") for n in names], dst, key=f"server-{run}")
            server.append(time.perf_counter() - t0)

            def through_disk(name: str, run: int = run) -> None:
                local = scratch / f"{run}" / name
                src.download_file(name, local)
                dst.upload_file(local, f"files-{run}/{name}")
                local.unlink()

            t0 = time.perf_counter()
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(through_disk, names))
            files.append(time.perf_counter() - t0)

            child = subprocess.run(
                [sys.executable, "-c", CHILD, conn, json.dumps(names), str(run)],
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": str(REPO)},
                check=True,
            )
            got = json.loads(child.stdout.strip().splitlines()[-1])
            streamed.append(got["seconds"])
            rss.append(got["rss_growth_kib"] / 1024)
            print(
                f"  run {run + 1}: server-side {server[-1]:.2f} s, download+upload {files[-1]:.2f} s, "
                f"streamed {streamed[-1]:.2f} s (peak RSS +{rss[-1]:.1f} MiB)",
                flush=True,
            )
            for prefix in (f"server-{run}", f"files-{run}", f"stream-{run}"):
                dst.delete(prefix)
    med = statistics.median
    ratio = med(files) / med(server)
    body = "\n".join(
        [
            f"{args.files} files, {args.mib} MiB in all, from one container to another on one Azurite; "
            f"{args.runs} runs of each way, in turn. Download+upload and streamed use 4 files at a time.",
            "",
            "| way | median | min | max |",
            "|---|---|---|---|",
            f"| server-side (`transfer_copy.copy_files`: Copy Blob from a SAS, staged, moved into place) | "
            f"{med(server):.2f} s | {min(server):.2f} s | {max(server):.2f} s |",
            f"| through the worker: download to disk, then upload | {med(files):.2f} s | "
            f"{min(files):.2f} s | {max(files):.2f} s |",
            f"| through the worker: streamed (`copy_files(server_side=False)`, staged, moved into place) | {med(streamed):.2f} s | "
            f"{min(streamed):.2f} s | {max(streamed):.2f} s |",
            "",
            f"Server-side is **{ratio:.1f}x** faster than download-and-upload (target at least "
            f"{SPEED_TARGET:.0f}x: **{'met' if ratio >= SPEED_TARGET else 'NOT met'}**). A streamed copy's "
            f"peak RSS growth: median {med(rss):.1f} MiB, at most {max(rss):.1f} MiB (target under "
            f"{RSS_TARGET_MIB} MiB: **{'met' if max(rss) < RSS_TARGET_MIB else 'NOT met'}**).",
            "",
            "Azurite copies within one instance by itself, as Azure does within a region; between "
            "Azure accounts the service also moves the bytes, at its own speed, not the worker's.",
            "",
            "Why the speed target cannot be met here: Azurite serves Copy Blob by reading and writing "
            "every byte in its own Node.js process, one copy at a time, slower than the worker moves them "
            "itself; and a staged copy pays that twice (staged, then moved into place: Blob storage has no "
            "rename). Azurite has no Put Block From URL, which would let a copy stage as uncommitted "
            "blocks of the final blob and skip the second pass. The ratio is a property of the emulator; "
            "the code path (SAS, Copy Blob, polling, verification) is the one Azure serves.",
        ]
    )
    print(body)
    if args.write:
        write_section(
            "Blob to Blob copies (`bench/blob_copy.py`)",
            body,
            f".venv/bin/python bench/blob_copy.py --files {args.files} --mib {args.mib} --runs {args.runs} --write",
        )


if __name__ == "__main__":
    main()
