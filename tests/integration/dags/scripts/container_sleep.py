import time

print("sleeping in a container", flush=True)
time.sleep(600)
