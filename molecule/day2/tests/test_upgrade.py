"""upgrade.yml in the container lab: the hypervisors upgraded and restarted
one at a time while servdb probes every VM every 10 ms and downloads from
one; a node kept down on purpose stops the upgrade; the storage node's
turn, asked for, pauses the VMs' disks and no VM stops.

A lab node restarts as a server does: systemd reboots, the container exits
and podman starts it again (tools/lab/up.yml, restart_policy), its files
kept. apt upgrades from Debian's mirror what it has for the lab's image
(nothing, on a day with no update: the restart, forced by
upgrade_reboot=always, is what the tests need)."""

from __future__ import annotations

import re
import time

import pytest

from labkit import failover as fo
from labkit.vms import cluster_whole, http_get, playbook, running_on, vms, wait_for_http

from ansible_collections.havirt.cluster.plugins.filter.upgrade import apt_security_upgrades

pytestmark = pytest.mark.usefixtures("probe_tools")

BLOB = 1048576  # /www/blob, the guest's 1 MiB file


def _uptimes():
    return {v["name"]: float(http_get(v["name"], "/cgi-bin/uptime").strip()) for v in vms()}


def _start_probes(storage):
    """Every 10 ms an ICMP echo to each VM (about every 16 ms as measured:
    iputils ping's timer; at 5 ms it busy-waits, 82 % of a core each, and
    three of them starve this 2-core lab's TCG guests), and downloads of a
    VM's blob at 100 KiB/s one after the other, from the storage node,
    until _stop_probes."""
    storage.check_output("rm -rf /tmp/upgrade-probe && mkdir /tmp/upgrade-probe")
    for v in vms():
        storage.check_output("(ping -n -D -i 0.01 -W 1 %s > /tmp/upgrade-probe/%s.ping 2>&1 &)",
                             v["address"], v["name"])
    storage.check_output(
        "(while [ ! -e /tmp/upgrade-probe/stop ]; do curl -sS --max-time 60 --limit-rate 100k -o /dev/null "
        "-w '%%{http_code} %%{size_download}\\n' http://%s/blob >> /tmp/upgrade-probe/download 2>&1; done "
        "> /dev/null 2>&1 < /dev/null &)",
        vms()[0]["address"])


def _stop_probes(storage):
    storage.run("touch /tmp/upgrade-probe/stop; pkill -INT -x ping")
    time.sleep(12)  # the download under way ends (10 s at 100 KiB/s)


def _longest_gap(log):
    """The longest time between two replies in a `ping -D` log, in seconds,
    and how many replies."""
    stamps = [float(s) for s in re.findall(r"^\[(\d+\.\d+)\] \d+ bytes from", log, re.M)]
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    return (max(gaps) if gaps else float("inf")), len(stamps)


def test_the_hypervisors_restart_one_at_a_time_and_no_vm_stops(inv):
    storage = inv.node(inv.group("storage")[0])
    hypervisors = inv.group("hypervisors")
    for v in vms():
        wait_for_http(v["name"], timeout=120)
    started = {node: fo.started_at(node) for node in inv.group("cluster")}
    before = _uptimes()
    _start_probes(storage)
    began = time.monotonic()
    try:
        run = playbook("upgrade.yml", "-e", "upgrade_reboot=always", timeout=1800)
    finally:
        _stop_probes(storage)
    took = time.monotonic() - began
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr
    # Each hypervisor restarted (its container started again), the storage
    # node not touched: the lab stores the VMs' disks on it (iscsi_ocfs2).
    for node in hypervisors:
        assert fo.started_at(node) != started[node], node
    assert fo.started_at(inv.group("storage")[0]) == started[inv.group("storage")[0]]
    report = " ".join(run.stdout.split())
    for node in hypervisors:
        assert re.search(rf"{node}: \d+ package\(s\) upgraded.*?, restarted \(.*?\), out of service [\d.]+ s, \d+ VM move\(s\)",
                         report), report[-3000:]
    assert "Skipped: servdb: it serves the VMs' disks (iSCSI)" in report
    # No VM restarted: each one's uptime grew by at least the upgrade's time.
    after = _uptimes()
    for name, up in before.items():
        assert after[name] >= up + took - 5, (name, up, after[name], took)
    # Every VM home, the cluster whole.
    for v in vms():
        assert running_on(v["name"]) == [v["preferred"]], v["name"]
    whole, xml = cluster_whole(inv)
    assert whole, xml
    # The probes: every VM answered throughout, its longest silence a live
    # move's (TCG); every download complete.
    gaps = {}
    for v in vms():
        gap, replies = _longest_gap(storage.check_output("cat /tmp/upgrade-probe/%s.ping", v["name"]))
        gaps[v["name"]] = gap
        assert replies > 1000 and gap < 3, (v["name"], gap, replies)
    downloads = storage.check_output("cat /tmp/upgrade-probe/download").split("\n")
    assert downloads and all(line == f"200 {BLOB}" for line in downloads if line), downloads
    print("\n".join(line for line in run.stdout.splitlines() if re.search(r'"(servvirt\d|servdb): \d+ package|"Skipped', line)))
    print(f"upgrade.yml over {', '.join(hypervisors)}: {took:.0f} s; longest probe gap per VM (ms): "
          + ", ".join(f"{name} {gap * 1000:.0f}" for name, gap in gaps.items())
          + f"; {len([d for d in downloads if d])} downloads of 1 MiB complete")


def test_refused_before_anything_changes(inv):
    hypervisor = inv.group("hypervisors")[1]
    started = {node: fo.started_at(node) for node in inv.group("cluster")}
    only_storage = playbook("upgrade.yml", "-e", "upgrade_nodes=servdb")
    assert only_storage.returncode != 0
    assert "No node to upgrade: servdb: it serves the VMs' disks" in " ".join(only_storage.stdout.split())
    bad = playbook("upgrade.yml", "-e", "upgrade_packages=stable")
    assert bad.returncode != 0 and "upgrade_packages" in bad.stdout + bad.stderr
    # A node in standby: the cluster is not whole.
    inv.node(hypervisor).check_output(f"crm_attribute --node {hypervisor} --name standby --update on")
    try:
        not_whole = playbook("upgrade.yml")
    finally:
        inv.node(hypervisor).check_output(f"crm_attribute --node {hypervisor} --name standby --delete")
    assert not_whole.returncode != 0
    assert f"The cluster is not whole: {hypervisor} is in standby" in " ".join(not_whole.stdout.split())
    for run in (only_storage, bad, not_whole):
        assert not re.search(r"changed=[1-9]", run.stdout), run.stdout[-3000:]
    assert {node: fo.started_at(node) for node in inv.group("cluster")} == started


def test_a_node_that_does_not_come_back_stops_the_upgrade(inv):
    first, second = inv.group("hypervisors")
    started = {node: fo.started_at(node) for node in (first, second)}
    # Kept down on purpose: its cluster stack will not start after the restart.
    inv.node(first).check_output("systemctl disable corosync pacemaker")
    try:
        run = playbook("upgrade.yml", "-e", "upgrade_reboot=always", "-e", "upgrade_join_timeout=60", timeout=1800)
        output = " ".join(run.stdout.split())
        assert run.returncode != 0
        assert f"{first} did not come back whole after its upgrade" in output, output[-3000:]
        assert f"The upgrade stopped here: {first} stays in standby" in output
        assert f"and {second} was not touched" in output
        # The other hypervisor was not touched and runs every VM.
        assert fo.started_at(second) == started[second]
        for v in vms():
            assert running_on(v["name"]) == [second], v["name"]
            wait_for_http(v["name"], timeout=30)
    finally:
        fo.wait_restarted(first, started[first], timeout=300)
        inv.node.cache_clear()
        inv.node(first).check_output("systemctl enable --now corosync pacemaker")
    # What the message says to do: repair, then the node out of maintenance.
    back = playbook("maintenance.yml", "-e", f"node={first}", "-e", "state=off")
    assert back.returncode == 0, back.stdout[-3000:]
    for v in vms():
        assert running_on(v["name"]) == [v["preferred"]], v["name"]
    whole, xml = cluster_whole(inv)
    assert whole, xml


def _pending(node):
    """(security updates, other updates) apt has for node."""
    node.check_output("apt-get update -qq")
    simulated = node.check_output("apt-get --simulate dist-upgrade")
    security = apt_security_upgrades(simulated)
    others = [line.split()[1] for line in simulated.splitlines()
              if line.startswith("Inst ") and line.split()[1] not in security]
    return security, others


def test_the_storage_node_upgraded_when_asked_pauses_the_disks_and_no_vm_stops(inv):
    """Its turn with the security updates only (upgrade_packages=security):
    afterwards apt has none left for it, and the other updates it had are
    still pending."""
    name = inv.group("storage")[0]
    node = inv.node(name)
    started = fo.started_at(name)
    for v in vms():
        wait_for_http(v["name"], timeout=120)
    security, others = _pending(node)
    before = _uptimes()
    began = time.monotonic()
    run = playbook("upgrade.yml", "-e", "upgrade_storage=true", "-e", f"upgrade_nodes={name}",
                   "-e", "upgrade_packages=security", "-e", "upgrade_reboot=always", timeout=1800)
    took = time.monotonic() - began
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr
    assert fo.started_at(name) != started
    away = re.search(rf"{name}: (\d+) package\(s\) upgraded.*?, restarted \(.*?\), out of service ([\d.]+) s, "
                     r"0 VM move\(s\)", " ".join(run.stdout.split()))
    assert away, run.stdout[-3000:]
    inv.node.cache_clear()
    node = inv.node(name)
    assert int(away.group(1)) >= len(security), (away.group(0), security)
    security_after, others_after = _pending(node)
    assert security_after == [], security_after
    assert set(others) <= set(others_after), (others, others_after)
    for v in vms():
        wait_for_http(v["name"], timeout=120)
        # Each VM reads and writes its disk again.
        assert http_get(v["name"], "/cgi-bin/disk?after-storage-upgrade", timeout=30).strip() == \
            "wrote after-storage-upgrade"
    after = _uptimes()
    for vm, up in before.items():
        assert after[vm] >= up + took - 5, (vm, up, after[vm], took)
    whole, xml = cluster_whole(inv)
    assert whole, xml
    print(f"{name}: {len(security)} security update(s) installed, {len(others)} other update(s) left pending; "
          f"restarted: out of service {away.group(2)} s (the VMs' disk I/O paused as long), "
          f"upgrade.yml {took:.0f} s, no VM restarted")
