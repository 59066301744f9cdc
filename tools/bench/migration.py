#!/usr/bin/env python3
"""make bench-migration: live migration of one of the lab's VMs, measured
from outside, with havirt (migrate.yml) and with plain `virsh migrate` at
libvirt's defaults, side by side in one run.

For each case (guest idle, guest rewriting memory without pause) and each
method, RUNS migrations back and forth, interleaved (havirt, virsh,
havirt, ...). During each one the storage node probes the guest with ICMP
every 5 ms and pulls HTTP from it (tools/bench/probe.py). Printed and
written to bench/results/migration.json: downtime seen by the probe
(largest gap between replies minus the probe interval), downtime and total
time reported by QEMU (libvirt's completed-job statistics), and HTTP
throughput during versus outside the migration.

A benchmark, not a test: it prints numbers and fails only when a
migration fails. Needs the lab up and converged (`make bench-migration`
does both)."""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT))

import yaml  # noqa: E402

from tests.lab import inventory as inv  # noqa: E402  (the inventory, read as the playbooks read it)
from tests.lab.vms import running_on, vm_spec  # noqa: E402

PROBE_INTERVAL_S = 0.005
BASELINE_TIMEOUT_S = 120


ssh = inv.ssh_argv


def remote(name: str, command: str, check: bool = True) -> str:
    run = subprocess.run(ssh(name) + [command], capture_output=True, text=True, timeout=600)
    if check and run.returncode != 0:
        raise RuntimeError(f"{name}: {command}: {run.stderr.strip()}")
    return run.stdout


def other(host: str) -> str:
    return next(h for h in inv.group("hypervisors") if h != host)


def migrate_havirt(vm: str, extra: tuple[str, ...] = ()) -> dict:
    env = inv.clean_env(ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_CALLBACKS_ENABLED="")
    run = subprocess.run(["ansible-playbook", "-i", str(inv.inventory_path()), "migrate.yml", "-e", f"vm={vm}", *extra],
                         cwd=PROJECT, env=env, capture_output=True, text=True, timeout=900)
    if run.returncode != 0:
        raise RuntimeError("migrate.yml failed:\n" + run.stdout[-3000:] + run.stderr[-2000:])
    for play in json.loads(run.stdout)["plays"]:
        for task in play["tasks"]:
            for result in task["hosts"].values():
                stats = result.get("stats")
                if isinstance(stats, dict) and "started_at" in stats:
                    return {"start": stats["started_at"], "end": stats["finished_at"],
                            "qemu_downtime_ms": stats["downtime_ms"], "total_ms": stats["total_ms"]}
    raise RuntimeError("no migration statistics in migrate.yml's output")


def migrate_baseline(vm: str) -> dict:
    """Plain virsh at libvirt's defaults (no maximum downtime, no
    auto-converge), over the same TLS connection and address as havirt:
    this lab's libvirt requires TLS (migrate_tls_force)."""
    source = running_on(vm)[0]
    dest = other(source)
    address = inv.hostvars(dest)["havirt_cluster_address"]
    out = remote(source, f"s=$(date +%s.%N); virsh migrate --live --p2p --persistent --undefinesource --tls"
                         f" --timeout {BASELINE_TIMEOUT_S} {vm} qemu+tls://{dest}/system tcp://{address} >&2;"
                         f" rc=$?; echo $s $(date +%s.%N) $rc")
    start, end, rc = out.split()
    if rc != "0":
        raise RuntimeError(f"virsh migrate {vm} {source} -> {dest} failed (rc {rc})")
    info = remote(dest, f"virsh domjobinfo --completed {vm}")

    def field(label):
        found = re.search(rf"^{label}:\s+(\d+)", info, re.M)  # virsh's labels, e.g. "Total downtime:   257   ms"
        return int(found.group(1)) if found else None
    return {"start": float(start), "end": float(end), "qemu_downtime_ms": field("Total downtime"),
            "total_ms": field("Time elapsed")}


def analyse(probe: dict, start: float, end: float) -> dict:
    """Downtime seen from outside and HTTP throughput, from the probe's log."""
    replies = sorted(t for _seq, t in probe["replies"])
    window = [t for t in replies if start - 0.5 <= t <= end + 1.0]
    gaps = [b - a for a, b in zip(window, window[1:])]
    interval = probe["interval_s"]
    lost = sum(1 for seq, t in probe["sent"] if start <= t <= end and seq not in dict(probe["replies"]))

    def rate(transfers, span):
        return round(sum(size for _s, _e, size in transfers) / 1048576 / span, 1) if span > 0 else None
    during = [x for x in probe["http"] if start <= x[1] <= end]
    outside = [x for x in probe["http"] if x[1] < start - 0.1 or x[0] > end + 0.1]
    span_out = sum(e - s for s, e, _size in outside)
    return {
        "probe_downtime_ms": round(max(0.0, (max(gaps) if gaps else end - start) - interval) * 1000, 1),
        "probe_lost": lost,
        "http_mib_s_during": rate(during, end - start),
        "http_mib_s_outside": rate(outside, span_out),
    }


def one_run(method: str, vm: str, storage: str, address: str, extra: tuple[str, ...] = ()) -> dict:
    source = running_on(vm)[0]
    probe = subprocess.Popen(ssh(storage) + [f"python3 /root/havirt-probe.py {address} {PROBE_INTERVAL_S}"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        moved = migrate_havirt(vm, extra) if method == "havirt" else migrate_baseline(vm)
        time.sleep(1.5)
    finally:
        out, err = probe.communicate("stop\n", timeout=60)
    if probe.returncode != 0:
        raise RuntimeError("probe failed: " + err)
    run = {"from": source, "to": running_on(vm)[0], **moved, **analyse(json.loads(out), moved["start"], moved["end"])}
    run["wall_ms"] = round((run.pop("end") - run.pop("start")) * 1000)
    return run


def answers(storage: str, address: str, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "<h1>" in remote(storage, f"curl -s --max-time 2 http://{address}/", check=False):
            return True
        time.sleep(1)
    return False


def recover_crashed_guest(vm: str, storage: str, address: str, busy: int) -> str:
    """A guest that stopped answering after a migration: keep the end of its
    console log (vms role: /var/log/libvirt/qemu/NAME-console.log), restart
    it where it is, give it its load again. Returns the log's last lines."""
    host = running_on(vm)[0]
    console = remote(host, f"tail -n 40 /var/log/libvirt/qemu/{vm}-console.log", check=False)
    remote(host, f"virsh destroy {vm} && virsh start {vm}")
    if not answers(storage, address, timeout=90):
        raise RuntimeError(f"{vm} does not answer after a restart on {host}")
    remote(storage, f"curl -sS --max-time 30 'http://{address}/cgi-bin/busy?{busy}'")
    time.sleep(2)
    return console


def summary(runs: list[dict]) -> dict:
    crashed = [r for r in runs if r.get("guest_crashed")]
    runs_ok = [r for r in runs if not r.get("guest_crashed")]

    def med(key):
        values = [r[key] for r in runs_ok if r.get(key) is not None]
        return round(statistics.median(values), 1) if values else None
    return {
        "runs": len(runs_ok),
        "probe_downtime_ms_median": med("probe_downtime_ms"),
        "probe_downtime_ms_max": max((r["probe_downtime_ms"] for r in runs_ok), default=None),
        "qemu_downtime_ms_median": med("qemu_downtime_ms"),
        "qemu_downtime_ms_max": max((r["qemu_downtime_ms"] or 0 for r in runs_ok), default=None),
        "total_ms_median": med("total_ms"),
        "total_ms_max": max((r["total_ms"] or 0 for r in runs_ok), default=None),
        "http_mib_s_during_median": med("http_mib_s_during"),
        "http_mib_s_outside_median": med("http_mib_s_outside"),
        "guest_crashes": len(crashed),
        "details": runs,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", 10)))
    parser.add_argument("--vm", default="passata")
    parser.add_argument("--busy-mib", type=int, default=48, help="memory the busy guest rewrites without pause")
    parser.add_argument("--output", default=str(PROJECT / "bench" / "results" / "migration.json"))
    parser.add_argument("--havirt-extra", action="append", default=[], metavar="VAR=VALUE",
                        help="extra variable for migrate.yml (e.g. xen_migration_max_downtime_ms=50), to try other settings")
    parser.add_argument("--cases", default="idle,busy", help="idle, busy or both (default)")
    parser.add_argument("--methods", default="havirt,baseline", help="havirt, baseline or both (default)")
    args = parser.parse_args()
    storage = inv.group("storage")[0]
    address = vm_spec(args.vm)["address"]
    # The probe's tools (not part of the cluster).
    remote(storage, "command -v curl >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null")
    subprocess.run(ssh(storage) + ["cat > /root/havirt-probe.py"], check=True, timeout=60,
                   input=(PROJECT / "tools" / "bench" / "probe.py").read_text(), text=True)
    home = running_on(args.vm)
    if len(home) != 1:
        raise SystemExit(f"{args.vm} must run on exactly one hypervisor (runs on: {home or 'none'}); run site.yml")
    results = {}
    # havirt is measured with the role's defaults, not the lab inventory's
    # safer max downtime (inventories/lab/group_vars/hypervisors/vms.yml).
    role_defaults = yaml.safe_load((PROJECT / "roles" / "xen_migration" / "defaults" / "main.yml").read_text())
    settings = [f"xen_migration_max_downtime_ms={role_defaults['xen_migration_max_downtime_ms']}"] + args.havirt_extra
    extra = tuple(x for var in settings for x in ("-e", var))
    cases = [c for c in (("", 0), ("_busy", args.busy_mib)) if ("busy" if c[0] else "idle") in args.cases.split(",")]
    methods = args.methods.split(",")
    for case, busy in cases:
        remote(storage, f"curl -sS --max-time 30 'http://{address}/cgi-bin/busy?{busy}'")
        time.sleep(2)
        runs = {m: [] for m in methods}
        for i in range(args.runs):
            for method in methods:
                run = one_run(method, args.vm, storage, address, extra)
                if not answers(storage, address):
                    # Counted apart, never in the figures (see the README).
                    run["guest_crashed"] = True
                    run["console"] = recover_crashed_guest(args.vm, storage, address, busy)
                    print(f"{method + case:14} run {i + 1:2}: the guest stopped answering after this migration; "
                          f"console:\n{run['console'][-1500:]}", flush=True)
                runs[method].append(run)
                print(f"{method + case:14} run {i + 1:2}/{args.runs}: {run['from']} -> {run['to']}, probe gap "
                      f"{run['probe_downtime_ms']} ms, QEMU downtime {run['qemu_downtime_ms']} ms, total {run['total_ms']} ms",
                      flush=True)
        for method, method_runs in runs.items():
            results[method + case] = summary(method_runs)
    remote(storage, f"curl -sS --max-time 30 'http://{address}/cgi-bin/busy?0'")
    if running_on(args.vm) != home:
        migrate_havirt(args.vm)
    results["meta"] = {"vm": args.vm, "memory_mb": vm_spec(args.vm)["memory_mb"], "probe_interval_ms": PROBE_INTERVAL_S * 1000,
                       "busy_mib": args.busy_mib, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       "havirt_settings": "migrate.yml with the xen_migration role's defaults: " + " ".join(settings),
                       "baseline": "virsh migrate --live --p2p --persistent --undefinesource --tls, libvirt defaults"}
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    header = (f"{'case':15}{'runs':>5}{'probe gap ms':>22}{'QEMU downtime ms':>18}{'total ms':>10}"
              f"{'HTTP MiB/s during/outside':>28}")
    print("\n" + header + "\n" + f"{'':20}{'median':>11}{'max':>11}{'median':>18}{'median':>10}")
    for key in [k for k in ("havirt", "baseline", "havirt_busy", "baseline_busy") if k in results]:
        r = results[key]
        print(f"{key:15}{r['runs']:>5}{r['probe_downtime_ms_median']!s:>11}{r['probe_downtime_ms_max']!s:>11}"
              f"{r['qemu_downtime_ms_median']!s:>18}{r['total_ms_median']!s:>10}"
              f"{r['http_mib_s_during_median']!s:>16} / {r['http_mib_s_outside_median']!s}"
              + (f"   ({r['guest_crashes']} run(s) where the guest crashed, not counted)" if r["guest_crashes"] else ""))
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
