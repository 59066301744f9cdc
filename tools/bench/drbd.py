#!/usr/bin/env python3
"""make bench-drbd: what DRBD's synchronous replication costs, measured in
the VM lab on one disk, side by side in one run.

On the first hypervisor, the spare disk that backs the resource `scratch`
is written directly (DRBD down) and then through DRBD (protocol C,
connected, primary): 4 KiB writes each flushed before the next
(`dd oflag=direct,dsync`: the write latency a database or a DNS/RADIUS
server's log sees), and 1 MiB direct writes (throughput). Between the two,
the resource comes back up and is invalidated there, so that its peer
copies the whole device back: the resync time of its size (which also
repairs the direct writes DRBD did not see). Each run repeats the three.

Prints a table and writes bench/results/drbd.json (runs, the medians and
every run). A benchmark, not a test. Needs the VM lab up and converged
(`make bench-drbd` does both). Everything runs under TCG emulation: the
absolute numbers are the lab's, the ratios are the point."""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT / "tools"))  # labkit

from labkit import drbd  # noqa: E402
from labkit import inventory as inv  # noqa: E402

RESOURCE = "scratch"
LATENCY_WRITES = 400
THROUGHPUT_MIB = 64
_DD = re.compile(r"(\d+) bytes .* copied, ([\d.]+) s")


def dd(node: str, device: str, block: str, count: int, flags: str) -> tuple[int, float]:
    """(bytes, seconds) of one dd run writing zeros to `device`."""
    out = inv.node(node).run("dd if=/dev/zero of=%s bs=%s count=%s oflag=%s 2>&1", device, block, str(count), flags)
    assert out.rc == 0, out.stdout + out.stderr
    found = _DD.search(out.stdout)
    assert found, out.stdout
    return int(found.group(1)), float(found.group(2))


def measure(node: str, device: str) -> dict:
    _, seconds = dd(node, device, "4k", LATENCY_WRITES, "direct,dsync")
    latency_ms = seconds / LATENCY_WRITES * 1000
    size, seconds = dd(node, device, "1M", THROUGHPUT_MIB, "direct")
    return {"write_latency_ms": round(latency_ms, 3), "throughput_mib_s": round(size / seconds / 1048576, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", default=str(PROJECT / "bench" / "results" / "drbd.json"))
    args = parser.parse_args()

    node = inv.group("hypervisors")[0]
    host = inv.node(node)
    res = drbd.resource(RESOURCE)
    backing, device = res["disk"], f"/dev/drbd{res['minor']}"
    size_mib = int(host.check_output("blockdev --getsize64 %s", backing)) // 1048576
    drbd.wait_in_sync(RESOURCE)
    assert drbd.primaries(RESOURCE) == [], f"{RESOURCE} is primary somewhere: the benchmark needs it free"
    runs = []
    for i in range(args.runs):
        host.check_output("drbdadm down %s", RESOURCE)
        try:
            raw = measure(node, backing)
        finally:
            host.check_output("drbdadm up %s", RESOURCE)
        # The disk was written behind DRBD's back: copy the peer's data over
        # all of it, and time that.
        deadline = time.monotonic() + 120
        while drbd.status(node, RESOURCE).get("cstate") != "Connected":
            assert time.monotonic() < deadline, drbd.status(node, RESOURCE)
            time.sleep(0.5)
        started = time.monotonic()
        host.check_output("drbdadm invalidate %s", RESOURCE)
        drbd.wait_in_sync(RESOURCE, timeout=1800)
        resync_s = time.monotonic() - started
        host.check_output("drbdadm primary %s", RESOURCE)
        try:
            replicated = measure(node, device)
        finally:
            host.check_output("drbdadm secondary %s", RESOURCE)
        run = {"raw": raw, "drbd_protocol_c": replicated, "resync_s": round(resync_s, 1),
               "resync_mib_s": round(size_mib / resync_s, 1)}
        runs.append(run)
        print(f"run {i + 1}/{args.runs}: raw {raw}, DRBD {replicated}, full resync of {size_mib} MiB in "
              f"{run['resync_s']} s", flush=True)

    def median(path):
        values = [run[path[0]][path[1]] if len(path) == 2 else run[path[0]] for run in runs]
        return statistics.median(values)

    release = inv.node(node).run("cat /etc/debian_version").stdout.strip()  # the nodes' own, not a guess
    summary = {
        "runs": len(runs),
        "raw_write_latency_ms_median": median(("raw", "write_latency_ms")),
        "drbd_write_latency_ms_median": median(("drbd_protocol_c", "write_latency_ms")),
        "raw_throughput_mib_s_median": median(("raw", "throughput_mib_s")),
        "drbd_throughput_mib_s_median": median(("drbd_protocol_c", "throughput_mib_s")),
        "resync_s_median": median(("resync_s",)),
        "resync_size_mib": size_mib,
        "meta": {
            "node": node, "resource": RESOURCE, "backing_device": backing, "device": device,
            "latency": f"{LATENCY_WRITES} x 4 KiB, dd oflag=direct,dsync",
            "throughput": f"{THROUGHPUT_MIB} x 1 MiB, dd oflag=direct",
            "resync": "drbdadm invalidate on the benchmark node: the whole device from its peer",
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "lab": f"VM lab: Debian {release} VMs under QEMU TCG, raw disk files opened with cache=none, "
                   "replication over a host bridge",
        },
        "all_runs": runs,
    }
    summary["latency_cost_x"] = round(summary["drbd_write_latency_ms_median"] / summary["raw_write_latency_ms_median"], 2)
    summary["throughput_ratio"] = round(summary["drbd_throughput_mib_s_median"] / summary["raw_throughput_mib_s_median"], 2)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(summary, indent=2) + "\n")

    print()
    print(f"{'':42} {'same disk, no DRBD':>18} {'DRBD protocol C':>16} {'ratio':>6}")
    print(f"{'4 KiB synchronous write, latency (ms)':42} {summary['raw_write_latency_ms_median']:18.2f} "
          f"{summary['drbd_write_latency_ms_median']:16.2f} {summary['latency_cost_x']:6.2f}")
    print(f"{'1 MiB direct writes, throughput (MiB/s)':42} {summary['raw_throughput_mib_s_median']:18.1f} "
          f"{summary['drbd_throughput_mib_s_median']:16.1f} {summary['throughput_ratio']:6.2f}")
    print(f"full resync of {size_mib} MiB: {summary['resync_s_median']:.1f} s (median of {len(runs)}), "
          f"{size_mib / summary['resync_s_median']:.1f} MiB/s")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
