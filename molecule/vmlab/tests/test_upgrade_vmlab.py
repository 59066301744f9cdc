"""upgrade.yml on real kernels (issue 17: "wait until the node is back in
the cluster with its storage (iSCSI session, /cluster, DRBD resync
finished)"): both hypervisors rebooted one at a time (upgrade_reboot=
always: a new kernel boot each, not a container restart) while servdb
pings passata every 50 ms and downloads a 1 MiB file from it again and
again. On the way each hypervisor's iSCSI session, OCFS2 mount and DRBD
peer go away with its kernel and must come back before the VM returns.

passata (on DRBD) runs alone: with the three guests running, its live
migration over TLS did not finish in 300 s (2026-12-07; each hypervisor
is one emulated CPU, and the guests and the TLS stream share it), and
the container lab (molecule/day2) already moves three VMs through an
upgrade. The others are started again at the end.

Afterwards: each hypervisor booted once more (a new boot id), servdb not;
passata did not restart (its uptime grew by the whole run) and runs on
its preferred hypervisor; every DRBD resource Connected and UpToDate on
both; /cluster mounted and the session logged in on both; every download
complete; the cluster whole. The longest probe gap is printed (live
moves under TCG inside TCG)."""

from __future__ import annotations

import re
import time

import pytest

from labkit import drbd, guests
from labkit.vms import all_running, alone, cluster_whole, http_get, playbook, running_on, vm_spec, wait_for_http

pytestmark = pytest.mark.usefixtures("probe_tools")
VM = "passata"
BLOB = 1048576  # /www/blob, the guest's 1 MiB file
GUEST_WAIT = 420
# Two hypervisors emptied live, rebooted and filled again (one emulated
# CPU each).
RUN_TIMEOUT = 3600
PROBE_DIR = "/tmp/upgrade-probe"
# Under the probes' download passata's move did not finish within the
# role's 300 s at its 20 ms maximum pause, even alone (2026-12-07: the
# guest dirties its memory faster than a hypervisor's one emulated CPU
# sends it over TLS): QEMU's own default pause (300 ms, set as the role's
# README says, "Defaults, from measurements") and 900 s.
MIGRATION = ("-e", "xen_migration_max_downtime_ms=300", "-e", "xen_migration_timeout=900")


def _uptime() -> float:
    return float(http_get(VM, "/cgi-bin/uptime", timeout=30).strip())


def _start_probes(storage):
    address = vm_spec(VM)["address"]
    storage.check_output(f"rm -rf {PROBE_DIR} && mkdir {PROBE_DIR}")
    storage.check_output("(ping -n -D -i 0.05 -W 1 %s > %s/ping 2>&1 &)", address, PROBE_DIR)
    # One line per download: when it began and ended (epoch seconds), the
    # HTTP status and the bytes received.
    storage.check_output(
        "(while [ ! -e %s/stop ]; do began=$(date +%%s); got=$(curl -s --max-time 120 --limit-rate 100k "
        "-o /dev/null -w '%%{http_code} %%{size_download}' http://%s/blob); "
        "echo \"$began $(date +%%s) $got\" >> %s/download; done > /dev/null 2>&1 < /dev/null &)",
        PROBE_DIR, address, PROBE_DIR)


def _stop_probes(storage):
    storage.run(f"touch {PROBE_DIR}/stop; pkill -INT -x ping")
    deadline = time.monotonic() + 150
    while storage.run("pgrep -f 'curl -s --max-time 120'").rc == 0 and time.monotonic() < deadline:
        time.sleep(3)


def _longest_gap(log: str) -> tuple[float, int]:
    stamps = [float(s) for s in re.findall(r"^\[(\d+\.\d+)\] \d+ bytes from", log, re.M)]
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    return (max(gaps) if gaps else float("inf")), len(stamps)


def _storage_whole(inv, node) -> dict:
    host = inv.node(node)
    return {
        "session": guests.session_states(host),
        "cluster_mount": host.run("findmnt -n -o FSTYPE /cluster").stdout.strip(),
        "drbd": {r["name"]: drbd.status(node, r["name"]) for r in drbd.resources()},
    }


@pytest.fixture
def passata_alone(inv):
    alone(inv, VM, timeout=GUEST_WAIT)
    yield
    all_running(inv, timeout=GUEST_WAIT)


def test_the_hypervisors_reboot_one_at_a_time_and_the_vm_does_not_stop(inv, passata_alone, tmp_path):
    storage_name = inv.group("storage")[0]
    storage = inv.node(storage_name)
    hypervisors = inv.group("hypervisors")
    boots = {n: guests.boot_id(inv.node(n)) for n in inv.group("cluster")}
    before = _uptime()
    _start_probes(storage)
    began = time.monotonic()
    try:
        run = playbook("upgrade.yml", "-e", "upgrade_reboot=always", *MIGRATION, timeout=RUN_TIMEOUT)
    finally:
        _stop_probes(storage)
    took = time.monotonic() - began
    # The whole run (each task's start time), to line the probes' logs up with the moves.
    (tmp_path / "upgrade.log").write_text(run.stdout + run.stderr)
    print(f"upgrade.yml's output: {tmp_path / 'upgrade.log'}")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr
    inv.node.cache_clear()
    for node in hypervisors:
        assert guests.boot_id(inv.node(node)) != boots[node], f"{node} did not reboot"
    assert guests.boot_id(inv.node(storage_name)) == boots[storage_name]
    report = " ".join(run.stdout.split())
    for node in hypervisors:
        assert re.search(rf"{node}: \d+ package\(s\) upgraded.*?, restarted \(.*?\), out of service [\d.]+ s, "
                         r"\d+ VM move\(s\)", report), report[-3000:]
    # Each hypervisor's storage came back with its kernel.
    for node in hypervisors:
        state = _storage_whole(inv, node)
        assert state["session"] and set(state["session"]) == {"LOGGED_IN"}, (node, state)
        assert state["cluster_mount"] == "ocfs2", (node, state)
        for name, res in state["drbd"].items():
            assert (res["cstate"], res["disk"], res["peer_disk"]) == ("Connected", "UpToDate", "UpToDate"), \
                (node, name, res)
    # The VM did not restart: its uptime grew by at least the run's time.
    wait_for_http(VM, timeout=GUEST_WAIT)
    after = _uptime()
    assert after >= before + took - 10, (before, after, took)
    assert running_on(VM) == [vm_spec(VM)["preferred"]]
    whole, xml = cluster_whole(inv)
    assert whole, xml
    gap, replies = _longest_gap(storage.check_output("cat %s/ping", PROBE_DIR))
    downloads = [line.split() for line in storage.check_output("cat %s/download", PROBE_DIR).split("\n") if line]
    short = [f"began +{int(d[0]) - int(downloads[0][0])} s, {' '.join(d[2:])} after {int(d[1]) - int(d[0])} s"
             for d in downloads if d[2:] != ["200", str(BLOB)]]
    print("\n" + "\n".join(line for line in run.stdout.splitlines() if re.search(r'"(servvirt\d|servdb): \d+ package', line)))
    print(f"upgrade.yml over {', '.join(hypervisors)}: {took:.0f} s; {VM}'s uptime {before:.0f} -> {after:.0f} s; "
          f"longest probe gap {gap * 1000:.0f} ms over {replies} replies; {len(downloads)} downloads of 1 MiB, "
          f"{len(short)} cut short {short}")
    # It answered throughout: a restart (a boot under TCG inside TCG takes
    # about a minute) would leave a longer silence than any live move.
    assert gap < 30, gap
    assert downloads and not short, short
