"""
The Python prototype's side of experiment "as-users-run-it" (bench/users.mjs): a user's script of
the prototype (github.com/rbedi/distributed-python) in a fresh process, N sequential time.time()
calls through its library, nothing warmed up. Our code; the prototype is imported from a checkout
of it outside this repository:

  REPPY_DIR=/path/to/checkout ETCD_CLIENT_PORT=<port> [REPPY_KEY_OFFSET=k] python3 bench/users-reppy.py <N>

It needs Debian's python3-etcd and an etcd with the v2 API (--enable-v2 on etcd 3.4). A user's script
does `import simple_client` (the prototype's tests/print_time.py): that imports its controller (the
etcd.Client on 127.0.0.1:ETCD_CLIENT_PORT) and replaces time.time by its replicated wrapper
(replicated_functions/time.py over distributed.generate_distributed: a create with prevExist=False,
a read on losing). Two things differ from a user's run, both outside the calls: the controller also
starts an etcd member through a shell on import, which is suppressed here (the bench's etcd is used;
subprocess.Popen is a no-op during that import only), and the prototype's per-function call counter
starts at REPPY_KEY_OFFSET (its keys are `time.time_<counter>` at etcd's root, so each run of the
benchmark gets keys of its own on the same etcd).

Prints one JSON line: the CLOCK_MONOTONIC instants (µs) of the script's first line, just before its
first call and just after its last call returned, the process's CPU time (user + system, µs, since
it started) at the two latter instants, and a digest of the values (the same on every replica of a run).
"""
import time

start_us = time.monotonic() * 1e6

import hashlib
import json
import os
import subprocess
import sys

n = int(sys.argv[1])
sys.path.insert(0, os.environ["REPPY_DIR"])
popen = subprocess.Popen
subprocess.Popen = lambda *a, **k: None
try:
    import simple_client  # noqa: F401  (the prototype's entry point: patches time.time)
finally:
    subprocess.Popen = popen
import distributed

distributed.func_ctrs["time.time"] = int(os.environ.get("REPPY_KEY_OFFSET", "0"))

values = [0.0] * n
first_call_us = time.monotonic() * 1e6
cpu_first_us = time.process_time() * 1e6
for i in range(n):
    values[i] = time.time()
last_call_us = time.monotonic() * 1e6
cpu_last_us = time.process_time() * 1e6

digest = hashlib.sha1(repr(values).encode()).hexdigest()[:8]
print(json.dumps({"startUs": start_us, "firstCallUs": first_call_us, "lastCallUs": last_call_us, "cpuFirstUs": cpu_first_us, "cpuLastUs": cpu_last_us, "n": n, "digest": digest}), flush=True)
