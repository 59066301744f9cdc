"""replace.yml in the container lab: a hypervisor reinstalled from nothing.

The first hypervisor is emptied (maintenance.yml), shut down and its
container removed; tools/lab/up.yml makes a new one from the lab's image:
Debian as installed, nothing of the cluster's, new SSH host keys, the same
name and address. While it is away a VM that prefers it writes a token on
its disk. replace.yml then rebuilds it into the cluster: corosync key,
libvirt's certificate, its VMs' definitions; the cluster takes it back
out of standby and the VMs that prefer it come back by live migration,
their guests not restarted. The lab has no DRBD (no kernel modules): the
resync is the VM lab's (molecule/vmlab/tests/test_replace.py)."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from labkit import failover as fo
from labkit import inventory
from labkit.vms import cluster_whole, http_get, playbook, replace_node, running_on, vms, wait_for_http

pytestmark = pytest.mark.usefixtures("probe_tools")


def _uptime(vm):
    return float(http_get(vm, "/cgi-bin/uptime").strip())


def test_a_hypervisor_made_anew_is_rebuilt_into_the_cluster(inv):
    victim, survivor = inv.group("hypervisors")
    homed = [v["name"] for v in vms() if v["preferred"] == victim]
    assert homed, f"no VM prefers {victim} in the lab inventory"
    for v in vms():
        wait_for_http(v["name"], timeout=120)
    old_key = inv.node(victim).check_output("cat /etc/ssh/ssh_host_ed25519_key.pub")

    out = playbook("maintenance.yml", "-e", f"node={victim}", timeout=900)
    assert out.returncode == 0, out.stdout[-3000:]
    for vm in homed:
        assert running_on(vm) == [survivor], vm

    # Shut down and thrown away; a new machine with the same name and address.
    fo.podman("stop", "--time", "120", f"havirt-{victim}")
    fo.podman("rm", f"havirt-{victim}")
    up = subprocess.run(["ansible-playbook", *inventory.inventory_args(), "tools/lab/up.yml"], cwd=inventory.PROJECT,
                        env=inventory.clean_env(), capture_output=True, text=True, timeout=1200, check=False)
    assert up.returncode == 0, up.stdout[-3000:]
    fresh = inv.node(victim)
    assert fresh.run("test -e /etc/corosync/authkey").rc != 0, "the new node holds the old cluster key"
    assert fresh.check_output("cat /etc/ssh/ssh_host_ed25519_key.pub") != old_key
    assert victim not in fo.online_nodes()

    # Meanwhile the VMs that prefer it write on their disks, and keep running.
    tokens = {}
    for vm in homed:
        tokens[vm] = f"replace-{uuid.uuid4().hex[:8]}"
        assert http_get(vm, f"/cgi-bin/disk?{tokens[vm]}", timeout=20).strip() == f"wrote {tokens[vm]}"
    uptimes = {vm: _uptime(vm) for vm in homed}

    report = replace_node(victim, timeout=2400)
    assert f"{len(homed)} VM(s) back on it" in report, report

    whole, xml = cluster_whole(inv)
    assert whole, xml
    assert fresh.file("/etc/corosync/authkey").exists
    for vm in homed:
        # Back by live migration: the same guest, its uptime grown, its write kept.
        assert running_on(vm) == [victim], vm
        assert _uptime(vm) > uptimes[vm], vm
        assert http_get(vm, "/cgi-bin/disk", timeout=20).split() == ["read", tokens[vm]], vm
