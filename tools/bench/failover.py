#!/usr/bin/env python3
"""make bench-failover: automatic failover of the lab's VMs after a hard
crash of a hypervisor, measured from outside.

Each run SIGKILLs the container of the hypervisor that runs the most VMs
(no warning, as a power cut), then measures against the lab machine's
clock: corosync's detection (its new membership, in the storage node's
journal), the fencer's success, and for every VM the dead node ran the
time to its first HTTP answer from the storage node (MTTR), and checks
that what the guest wrote to its disk just before the kill is still
there. It waits for the fenced node to rejoin before the next run.

Printed next to the sources' figures and written to
bench/results/failover.json (runs, mttr_s_min/median/max,
detect_s_median, fenced_s_median, phases_s_median, and every run). Each
VM's recovery is also read phase by phase from the survivors' logs
(tools/labkit/timeline.py): membership lost, transition calculated,
fencing requested, node fenced, start requested, QEMU started, start done,
then the storage node's probes: guest pings, guest answers; the medians
are printed as a table. A benchmark, not a
test: it fails only when a VM never comes back or loses data. Needs the
lab up and converged (`make bench-failover` does both)."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT / "tools"))  # labkit

from labkit import failover as fo  # noqa: E402
from labkit import inventory as inv  # noqa: E402
from labkit import probes  # noqa: E402
from labkit import timeline  # noqa: E402

# The first source's measurements (seeds: SUMMARY.md): a physical reboot
# of a hypervisor until its VMs answered, a cold move of a VM by hand, and
# automatic failover (Heartbeat), which did not work there.
SOURCES = {"physical reboot": 51.7, "cold move by hand": 38.7}


def median_phases(runs: list[dict]) -> dict[str, float]:
    """Each phase's median over every VM restart where it was seen."""
    seen = {}
    for run in runs:
        for phases in run.get("phases", {}).values():
            for name, at in phases.items():
                seen.setdefault(name, []).append(at)
    return {name: round(statistics.median(seen[name]), 2) for name in timeline.ORDER if name in seen}


def phase_table(medians: dict[str, float]) -> str:
    """The timeline as a table: each phase's median time after the kill,
    and the time it took after the phase before it."""
    lines = [f"{'failover, phase by phase (median)':34} {'at':>7} {'took':>7}"]
    before = 0.0
    for name in timeline.ORDER:
        if name in medians:
            lines.append(f"{'  ' + name:34} {medians[name]:7.2f} {medians[name] - before:7.2f}")
            before = medians[name]
        else:
            lines.append(f"{'  ' + name:34} {'-':>7} {'':>7}   (not found in the logs)")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--output", default=str(PROJECT / "bench" / "results" / "failover.json"))
    parser.add_argument("--keep-logs", metavar="DIR",
                        help="also write each run's journals and libvirt logs there (run-N.json)")
    args = parser.parse_args()

    # curl on the storage node: each VM's first answer and its disk token
    # are read from there (the tests' probe tools, installed where missing).
    probes.ensure(inv.group("storage"), probes.GUESTS)
    fo.wait_settled()
    runs = []
    with fo.Watch() as watch:
        for i in range(args.runs):
            victim = fo.busiest_hypervisor()
            result = fo.crash(victim, f"bench{i}")
            fo.wait_settled()
            logs = result.pop("logs")
            if args.keep_logs:
                Path(args.keep_logs).mkdir(parents=True, exist_ok=True)
                (Path(args.keep_logs) / f"run-{i + 1}.json").write_text(json.dumps(
                    {"victim": victim, "killed_at": result["killed_at"], "vms": result["vms"], "logs": logs}, indent=1))
            runs.append(result)
            print(f"run {i + 1}/{args.runs}: {victim} killed; detected {result['detect_s']} s, fenced "
                  f"{result['fenced_s']} s, VMs answering: "
                  + ", ".join(f"{vm} {t} s" for vm, t in sorted(result["mttr_s"].items())), flush=True)

    mttrs = [t for r in runs for t in r["mttr_s"].values()]
    lost = [vm for r in runs for vm in r["vms"] if vm not in r["mttr_s"]]
    corrupt = [vm for r in runs for vm, ok in r["disk_kept"].items() if not ok]
    phase_medians = median_phases(runs)
    summary = {
        "runs": len(runs),
        "vm_restarts": len(mttrs),
        "mttr_s_min": min(mttrs),
        "mttr_s_median": statistics.median(mttrs),
        "mttr_s_max": max(mttrs),
        "detect_s_median": statistics.median(r["detect_s"] for r in runs),
        "fenced_s_median": statistics.median(r["fenced_s"] for r in runs),
        "phases_s_median": phase_medians,
        "most_hypervisors_running_one_vm": watch.most_running,
        "most_lease_holders": watch.most_leases,
        "sources_s": {**SOURCES, "automatic failover (Heartbeat)": None},
        "meta": {
            "corosync_token_ms": inv.hostvars(fo.witness()).get("pacemaker_corosync_token_ms", 3000),
            "corosync_token_coefficient_ms": inv.hostvars(fo.witness()).get("pacemaker_corosync_token_coefficient_ms",
                                                                             650),
            "vm_monitor_interval": inv.hostvars(fo.witness()).get("pacemaker_vm_monitor_interval", "10s"),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "lab": "podman containers, TCG guests (tools/guest/build)",
        },
        "all_runs": runs,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(summary, indent=2) + "\n")

    print()
    print(f"{'':34} {'min':>7} {'median':>7} {'max':>7}")
    print(f"{'havirt: kill -> VM answers (MTTR)':34} {summary['mttr_s_min']:7.1f} {summary['mttr_s_median']:7.1f} "
          f"{summary['mttr_s_max']:7.1f}   ({len(mttrs)} VM restarts in {len(runs)} crashes)")
    print(f"{'havirt: kill -> corosync detects':34} {'':7} {summary['detect_s_median']:7.1f}")
    print(f"{'havirt: kill -> node fenced':34} {'':7} {summary['fenced_s_median']:7.1f}")
    print()
    print(phase_table(phase_medians))
    print()
    for name, value in SOURCES.items():
        print(f"{'source: ' + name:34} {'':7} {value:7.1f}")
    print(f"{'source: automatic failover':34} {'':7} {'failed':>7}   (Heartbeat, first source)")
    print(f"never on two hypervisors at once: {watch.most_running <= 1} ({watch.samples} samples); "
          f"data written before each crash kept: {not corrupt}")
    print(f"written to {args.output}")
    return 1 if lost or corrupt else 0


if __name__ == "__main__":
    sys.exit(main())
