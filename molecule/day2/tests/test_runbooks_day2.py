"""docs/runbooks/node-not-rejoining.md, followed as written (the blocks run
by labkit.runbooks), in the day-two container lab.

servvirt2's corosync key replaced by another (as a node restored from an
old backup, or a key edited by hand), then the node killed (its container
SIGKILLed): the cluster fences it, the lab's fence device powers it on
again, the cluster restarts its VM on servvirt1, and servvirt2 boots with
a corosync that cannot join. status.yml names it NOT IN THE CLUSTER with
the runbook; the runbook's blocks show the disconnected link and the
rejected key, put the inventory's key back (site.yml --tags cluster) and
bring the VM home."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET

import pytest

from labkit import failover as fo
from labkit import inventory
from labkit import vms as lab_vms
from labkit.runbooks import BOOKS, blocks, follow
from labkit.status import status_lines

pytestmark = pytest.mark.usefixtures("probe_tools")

BOOK = BOOKS / "node-not-rejoining.md"
NODE = "servvirt2"


def _online() -> list[str]:
    root = ET.fromstring(inventory.node(fo.witness()).check_output("crm_mon --one-shot --output-as=xml"))
    return sorted(n.get("name") for n in root.iterfind("nodes/node") if n.get("online") == "true")


def _corosync_state(name: str) -> str:
    """systemd's word for corosync on the node; '' while its sshd does not
    answer yet (testinfra raises on ssh's own failure)."""
    try:
        return inventory.node(name).run("systemctl is-active corosync").stdout.strip()
    except RuntimeError:
        return ""


def _active_since(name: str) -> str:
    """When corosync and pacemaker last started on the node (systemd's clock)."""
    return inventory.node(name).check_output(
        "systemctl show --property ActiveEnterTimestampMonotonic corosync pacemaker")


@pytest.fixture()
def rejoined(inv):
    """Whatever the test left: the inventory's key everywhere (site.yml
    --tags cluster), every node online, every VM home."""
    fo.wait_settled()
    yield
    if _online() != sorted(inv.group("cluster")):
        run, said = lab_vms.site("--tags", "cluster")
        assert run.returncode == 0, said[-3000:]
    fo.wait_settled(timeout=400)
    lab_vms.send_home()


def test_a_node_that_does_not_rejoin_is_brought_back_by_its_runbook(inv, rejoined):
    steps = blocks(BOOK)
    assert [where for where, _ in steps] == ["node", "hypervisor", "controller", "controller", "controller"], steps
    assert f"node={NODE} -e restore=true" in steps[4][1], steps[4][1]
    other = next(h for h in inv.group("hypervisors") if h != NODE)
    homed = [vm["name"] for vm in lab_vms.vms() if vm["preferred"] == NODE]
    assert homed and all(lab_vms.running_on(vm) == [NODE] for vm in homed), homed
    started = fo.started_at(NODE)

    inv.node(NODE).check_output("head -c 256 /dev/urandom > /etc/corosync/authkey")
    killed = time.monotonic()
    fo.podman("kill", "--signal", "KILL", f"havirt-{NODE}")
    inventory.node.cache_clear()
    assert fo.wait_restarted(NODE, started, timeout=180), f"{NODE} was not fenced and powered on"
    for vm in homed:
        assert lab_vms.wait_for_http(vm, timeout=240), vm
        assert lab_vms.running_on(vm, [other]) == [other], vm  # the node itself may still be booting
    back = time.monotonic() - killed
    # Booted, its corosync running, and still out after a minute.
    deadline = time.monotonic() + 120
    while _corosync_state(NODE) != "active":
        assert time.monotonic() < deadline, _corosync_state(NODE)
        time.sleep(3)
    time.sleep(60)
    assert NODE not in _online(), "the node joined with another key"

    # What the runbook says the operator sees.
    lines = status_lines()
    assert re.match(rf"cluster: 2/3 nodes online \((?!.*{NODE}).*\), quorum: yes", lines[0]), lines[0]
    line = next(line for line in lines if line.startswith(f"{NODE}: "))
    assert line.startswith(f"{NODE}: NOT IN THE CLUSTER (Ansible reaches it, the cluster does not count it online: "
                           "docs/runbooks/node-not-rejoining.md), clock "), line

    # The runbook, step by step.
    said = [follow(*steps[0]), follow(*steps[1], host=NODE)]
    assert re.search(rf"{NODE}.*OFFLINE|OFFLINE.*{NODE}", said[0]), said[0]
    assert "disconnected" in said[0], said[0]
    assert re.search(r"^active\s*$", said[1], re.M), said[1]  # corosync runs
    assert re.search(r"^Nodes:\s+1$", said[1], re.M), said[1]  # and sees itself alone
    # knet's words for a packet under another key (corosync 3.1.9, Debian 13).
    assert "Digest does not match. Check crypto key and configuration." in said[1], said[1]
    print(f"killed -> VMs back on {other}: {back:.0f} s; what the node's corosync logged:\n{said[1]}")
    others = [name for name in inv.group("cluster") if name != NODE]
    since = {name: _active_since(name) for name in others}
    said.append(follow(*steps[2]))
    assert _online() == sorted(inv.group("cluster"))
    # The nodes that were right were not restarted by step 3.
    assert {name: _active_since(name) for name in others} == since
    said.append(follow(*steps[3]))
    report = said[3]
    assert "3/3 nodes online" in report and "NOT IN THE CLUSTER" not in report, report[-3000:]
    said.append(follow(*steps[4]))
    fo.wait_settled()
    for vm in lab_vms.vms():
        assert lab_vms.running_on(vm["name"]) == [vm["preferred"]], vm["name"]
        assert lab_vms.wait_for_http(vm["name"], timeout=180)
