import argparse
import os
import subprocess
import time

p = argparse.ArgumentParser()
p.add_argument("--pid-file")
a = p.parse_args()
child = subprocess.Popen(["sleep", "300"])
with open(a.pid_file, "w") as fh:
    fh.write(f"{os.getpid()} {child.pid}")
print("sleeping", flush=True)
time.sleep(300)
