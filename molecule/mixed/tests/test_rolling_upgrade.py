"""A cluster halfway through a rolling upgrade: servdb and servvirt1 on
Debian 13 (pacemaker 3.0, QEMU 10), servvirt2 still on Debian 12
(pacemaker 2.1, QEMU 7.2), converged by the same site.yml.

What a rolling upgrade needs, and what it must refuse: the three nodes form
one cluster with quorum; a VM moves live from the old release's hypervisor
to the new one (the upgrade's direction: empty the old node before its
upgrade); a VM that QEMU 10 started (its machine type is QEMU 10's) cannot
move to QEMU 7.2, and the refusal leaves it running where it was; when the
new release's hypervisor crashes, the old one fences it and starts its VMs
from their own definitions, with the data they had written."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET

import pytest

from labkit import failover as fo
from labkit.vms import http_get, playbook, running_on, vm_spec, vms, wait_for_http

pytestmark = pytest.mark.usefixtures("probe_tools")


def _release(inv, node):
    return inv.node(node).check_output(". /etc/os-release && echo $VERSION_ID").strip()


def _old_and_new(inv):
    """The hypervisor on Debian 12 and the one on Debian 13."""
    releases = {h: _release(inv, h) for h in inv.group("hypervisors")}
    assert sorted(releases.values()) == ["12", "13"], releases
    return min(releases, key=releases.get), max(releases, key=releases.get)


def _machine(inv, host, vm):
    xml = inv.node(host).check_output("virsh dumpxml %s", vm)
    return ET.fromstring(xml).find("os/type").get("machine")


def _summary(run):
    found = re.findall(r'"msg": "([^"]*)"', run.stdout)
    return found[-1] if found else ""


def _on(inv, host):
    return [vm["name"] for vm in vms() if running_on(vm["name"]) == [host]]


def test_the_two_releases_form_one_cluster(inv):
    old, new = _old_and_new(inv)
    versions = {n: inv.node(n).check_output("pacemakerd --version").splitlines()[0] for n in inv.group("cluster")}
    print(f"\nDebian {_release(inv, old)} on {old}, Debian {_release(inv, new)} on {new}; {versions}")
    assert versions[old] != versions[new]
    status = ET.fromstring(inv.node(fo.witness()).check_output("crm_mon --one-shot --output-as=xml --include=all"))
    assert status.find("summary/current_dc").get("with_quorum") == "true"
    assert sorted(n.get("name") for n in status.iter("node") if n.get("online") == "true") == sorted(
        inv.group("cluster"))
    assert status.find("failures") is None or len(status.find("failures")) == 0
    for vm in vms():
        assert len(running_on(vm["name"])) == 1, vm["name"]


def test_a_vm_moves_live_from_the_old_release_to_the_new(inv):
    old, new = _old_and_new(inv)
    moving = _on(inv, old)
    assert moving, f"no VM runs on {old}: nothing to move"
    vm = moving[0]
    machine = _machine(inv, old, vm)
    wait_for_http(vm, timeout=120)
    storage = inv.node(fo.witness())
    storage.check_output("rm -f /tmp/mixed-probe.log; (ping -D -i 0.01 -W 1 %s > /tmp/mixed-probe.log 2>&1 &) ; sleep 1",
                         vm_spec(vm)["address"])
    try:
        run = playbook("migrate.yml", "-e", f"vm={vm}", "-e", f"to={new}")
        time.sleep(1)
    finally:
        storage.run("pkill -INT -x ping")
    print(f"\n{vm} ({machine}) {old} -> {new}: {_summary(run)}")
    assert run.returncode == 0, run.stdout[-3000:]
    assert running_on(vm) == [new]
    # The guest keeps its machine type (QEMU 10 runs QEMU 7.2's) and its state.
    assert _machine(inv, new, vm) == machine
    assert http_get(vm).strip() == f"<h1>{vm}</h1>"
    stats = re.search(r"(\d+) packets transmitted, (\d+) received", storage.check_output("cat /tmp/mixed-probe.log"))
    sent, received = int(stats.group(1)), int(stats.group(2))
    assert sent > 100 and sent - received < 100, (sent, received)


def test_a_vm_started_by_the_new_release_stays_there_running_when_asked_to_move_to_the_old(inv):
    old, new = _old_and_new(inv)
    started_here = [vm for vm in _on(inv, new) if _machine(inv, new, vm) != _machine_of_old(inv, old)]
    assert started_here, f"no VM started by {new}'s QEMU on it"
    vm = started_here[0]
    machine = _machine(inv, new, vm)
    pid = inv.node(new).check_output("cat /run/libvirt/qemu/%s.pid", vm).strip()
    run = playbook("migrate.yml", "-e", f"vm={vm}", "-e", f"to={old}")
    print(f"\n{vm} ({machine}) {new} -> {old}: rc {run.returncode}: {_summary(run)}")
    assert run.returncode != 0, f"{vm} moved to {old}: {run.stdout[-2000:]}"
    assert f"{old}'s QEMU has no machine type {machine}" in _summary(run), run.stdout[-2000:]
    assert running_on(vm) == [new]
    assert inv.node(new).check_output("cat /run/libvirt/qemu/%s.pid", vm).strip() == pid
    wait_for_http(vm, timeout=30)


def _machine_of_old(inv, old):
    """The machine type that `pc` means on the old release's QEMU."""
    out = inv.node(old).check_output("qemu-system-x86_64 -machine help")
    return re.search(r"^pc\s+Standard PC \(i440FX \+ PIIX, 1996\) \(alias of (\S+)\)", out, re.M).group(1)


def test_a_crash_of_the_new_release_hypervisor_restarts_its_vms_on_the_old(inv):
    old, new = _old_and_new(inv)
    fo.wait_settled()
    result = fo.crash(new, "mixed")
    fo.wait_settled()
    print(f"\n{new} killed: fenced after {result['fenced_s']} s; answering: {result['mttr_s']}; "
          f"now on {result['now_on']}; disk data kept {result['disk_kept']}")
    assert result["vms"], f"{new} ran no VM"
    assert result["fenced_s"] is not None and result["node_restarted"]
    assert sorted(result["mttr_s"]) == sorted(result["vms"])
    assert all(result["disk_kept"].values())
    assert all(len(hosts) == 1 for hosts in result["now_on"].values()), result["now_on"]
