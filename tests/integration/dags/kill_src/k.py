import argparse
import os
import time

p = argparse.ArgumentParser()
p.add_argument("--out")
a = p.parse_args()
flags = os.environ["MLPIPE_TEST_FLAGS"]
if os.path.exists(os.path.join(flags, "hang")):
    with open(os.path.join(flags, "k.pids.tmp"), "w") as fh:
        fh.write(f"{os.getpid()} {os.getppid()}")
    os.replace(os.path.join(flags, "k.pids.tmp"), os.path.join(flags, "k.pids"))
    time.sleep(300)
with open(os.path.join(a.out, "k.txt"), "w") as fh:
    fh.write("done")
