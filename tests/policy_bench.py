#!/usr/bin/env python3
"""NetworkPolicy figures' API side, for tests/bench-policy.sh (KUBECONFIG
is `podnet lab kubeconfig`'s, the API server on the host's loopback):

    policy_bench.py KUBECONFIG latency COUNT NODE... -- EXEC...
    policy_bench.py KUBECONFIG many COUNT
    policy_bench.py KUBECONFIG delete-many

`many` creates COUNT policies (labelled bench=many) selecting the Pods of
`solo` and `hostport`, `delete-many` removes them in one request: straight
to the API server, because kubectl's client-side limit (5 requests a
second in 1.20) makes 1,000 objects take minutes.

`latency`: a policy created -> in every node's nftables, without polling.
EXEC is the command that runs a program on a node (`podnet lab exec`,
the node's name appended). On each node `nft monitor` reports every
committed nftables transaction as it happens; a policy is enforced on a
node once a transaction of the table `inet podnet_policy` names it. The
clock starts just before the POST that creates the policy (so kubectl's
own start-up is not counted) and stops at the last node's transaction.
Prints one line per policy, then the median and the max in ms.
"""

import atexit
import json
import os
import queue
import re
import signal
import ssl
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

TABLE = "podnet_policy"


def kubeconfig(path):
    text = open(path).read()
    server = re.search(r"server: (\S+)", text).group(1)
    token = re.search(r"token: (\S+)", text).group(1)
    return server, token


class Api:
    def __init__(self, server, token):
        self.server, self.token = server, token
        # The lab's API server has a self-signed certificate
        # (insecure-skip-tls-verify in its kubeconfig too).
        self.tls = ssl._create_unverified_context()

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.token)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, context=self.tls, timeout=30) as r:
            return r.status


def monitor(proc, out):
    """Puts (time_ns, batch text) for every transaction `proc` reports."""
    lines = []
    for line in proc.stdout:
        if line.startswith("# new generation"):
            out.put((time.time_ns(), "".join(lines)))
            lines = []
        else:
            lines.append(line)


def wait_batch(q, pred, timeout):
    """The time of the next transaction `pred` accepts, or None."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            t, batch = q.get(timeout=left)
        except queue.Empty:
            return None
        if pred(batch):
            return t
    return None


def must(t, what):
    if t is None:
        sys.exit(f"policy_bench: no nftables transaction {what} within 60 s")
    return t


POLICIES = "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies"


def many(api, count):
    for k in range(1, count + 1):
        app = "hostport" if k % 2 == 0 else "solo"
        api.call("POST", POLICIES, {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": f"other-{k}", "namespace": "default", "labels": {"bench": "many"}},
            "spec": {
                "podSelector": {"matchLabels": {"app": app}},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{
                    "from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                    "ports": [{"port": 1000 + k}],
                }],
                "egress": [{
                    "to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": [f"10.244.{k % 200}.0/24"]}}],
                    "ports": [{"port": 53, "protocol": "UDP"}],
                }],
            },
        })


def main():
    kc, mode, *argv = sys.argv[1:]
    api = Api(*kubeconfig(kc))
    if mode == "many":
        return many(api, int(argv[0]))
    if mode == "delete-many":
        return api.call("DELETE", POLICIES + "?labelSelector=bench%3Dmany")
    sep = argv.index("--")
    (count, *nodes), exec_cmd = argv[:sep], argv[sep + 1:]
    queues = {n: queue.Queue() for n in nodes}
    monitors = [
        # A session of its own: `lab exec` runs nft as its child, and
        # the whole group is stopped at exit.
        subprocess.Popen(
            exec_cmd + [n, "--", "nft", "monitor"],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        for n in nodes
    ]
    atexit.register(lambda: [os.killpg(m.pid, signal.SIGKILL) for m in monitors])
    for n, m in zip(nodes, monitors):
        threading.Thread(target=monitor, args=(m, queues[n]), daemon=True).start()
    # Ready once each monitor has seen a transaction of our own.
    for n in nodes:
        probe = "podnet_bench_probe"
        while True:
            subprocess.run(
                exec_cmd + [n, "--", "nft", "-f", "-"],
                input=f"table inet {probe}\ndelete table inet {probe}\n",
                text=True,
                check=True,
            )
            if wait_batch(queues[n], lambda b: probe in b, 2) is not None:
                break
    times = []
    for i in range(1, int(count) + 1):
        name = f"bench-{i}"
        key = f"default/{name}"
        policy = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "podSelector": {},
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}],
            },
        }
        t0 = time.time_ns()
        api.call("POST", POLICIES, policy)
        done = [
            must(wait_batch(queues[n], lambda b: TABLE in b and key in b, 60), f"naming {key} on {n}")
            for n in nodes
        ]
        ms = (max(done) - t0) / 1e6
        times.append(ms)
        print(f"{name}: " + ", ".join(f"{n} {(t - t0) / 1e6:.0f} ms" for n, t in zip(nodes, done)), flush=True)
        api.call("DELETE", f"{POLICIES}/{name}")
        for n in nodes:
            must(wait_batch(queues[n], lambda b: TABLE in b and key not in b, 60), f"without {key} on {n}")
    print(f"median {statistics.median(times):.0f} max {max(times):.0f}")


if __name__ == "__main__":
    main()
