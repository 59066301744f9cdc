"""DRBD in the container lab: what a container can show. The kernel here
cannot load the drbd module, so the drbd role installs drbd-utils and the
configuration drbdadm checked, and brings nothing up; replication, the
VM on DRBD, failover and resync are proven in the VM lab
(molecule/vmlab/tests/test_drbd.py)."""

from __future__ import annotations

import re

from labkit import drbd


def test_configuration_is_the_inventory_as_drbdadm_reads_it(inv, hypervisor):
    host = inv.node(hypervisor)
    for res in drbd.resources():
        drbd.check_configuration(hypervisor, res)
    common = host.check_output(f"{drbd.DRBDADM_84} dump all")
    assert re.search(r"protocol\s+C;", common) and re.search(r"fencing\s+resource-and-stonith;", common), common
    assert re.search(r"allow-two-primaries\s+no;", common), common


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
