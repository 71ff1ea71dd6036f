"""Second step of the tracking test pipeline: every kind of metric, an image, an output."""

import argparse
import os
import struct
import zlib

from airflow_mlpipe import Run


def png(width: int, height: int) -> bytes:
    """A small valid PNG (red), without an imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


parser = argparse.ArgumentParser()
parser.add_argument("--data")
parser.add_argument("--n", type=int)
parser.add_argument("--salt")
parser.add_argument("--out")
args = parser.parse_args()
with open(os.path.join(args.data, "data.txt")) as fh:
    rows = len(fh.readlines())
run = Run.get_context()
run.log("accuracy", 0.5)
run.log("accuracy", round(1 - 1 / (args.n + 1), 4))  # logged twice: a list, its last value compares
run.log("score", args.n * 2)
run.log_list("loss", [0.9, 0.5, 0.25])
run.log_table("confusion", {"label": ["cat", "dog"], "count": [rows, args.n]})
run.log_row("best", model="tree", depth=args.n)
with open("curve.png", "wb") as fh:
    fh.write(png(4, 3))
run.log_image("curve", path="curve.png", description="a red square")
run.tag("trained", "yes")
run.parent.log("best_score", args.n * 2)
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.txt", "w") as fh:
    fh.write(f"model n={args.n} rows={rows}\n")
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "model.txt"), "w") as fh:
    fh.write(f"model {args.n}\n")
