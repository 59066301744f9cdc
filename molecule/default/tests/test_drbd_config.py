"""DRBD in the container lab: what a container can show. The kernel here
cannot load the drbd module, so the drbd role installs drbd-utils and the
configuration drbdadm checked, and brings nothing up; replication, the
VM on DRBD, failover and resync are proven in the VM lab
(molecule/vmlab/tests/test_drbd.py)."""

from __future__ import annotations

import re


def _resources(inv):
    return inv.hostvars(inv.group("hypervisors")[0])["havirt_drbd_resources"]


def test_configuration_is_the_inventory_as_drbdadm_reads_it(inv, hypervisor):
    host = inv.node(hypervisor)
    for res in _resources(inv):
        assert host.file(f"/etc/drbd.d/havirt-{res['name']}.res").mode == 0o600
        assert host.check_output("drbdadm sh-ll-dev %s", res["name"]) == res["disk"]
        assert host.check_output("drbdadm sh-minor %s", res["name"]) == str(res["minor"])
        dump = host.check_output("drbdadm dump %s", res["name"])
        for peer in inv.group("hypervisors"):
            address = f"{inv.hostvars(peer)['havirt_cluster_address']}:{res['port']}"
            assert re.search(rf"on {peer} {{[^}}]*address\s+ipv4 {re.escape(address)};", dump), dump
    common = host.check_output("drbdadm dump all")
    assert re.search(r"protocol\s+C;", common) and re.search(r"fencing\s+resource-and-stonith;", common), common
    assert re.search(r"allow-two-primaries\s+no;", common), common
    # The peers' secret is in a root-only file.
    assert host.file("/etc/drbd.d/global_common.conf").mode == 0o600


def test_nothing_pretends_to_run_without_the_kernel_module(inv, hypervisor):
    host = inv.node(hypervisor)
    assert not host.file("/proc/drbd").exists
    assert host.run("modprobe drbd").rc != 0
    # The cluster manager runs no DRBD resource here: no VM's disk is on one.
    assert "ocf:linbit:drbd" not in host.check_output("cibadmin --query --scope resources")
    # Nor does DRBD's own boot script try to bring resources up.
    assert host.run("systemctl is-enabled drbd.service").stdout.strip() == "disabled"


def test_storage_node_has_no_drbd(inv, storage_node):
    assert not inv.node(storage_node).exists("drbdadm")
