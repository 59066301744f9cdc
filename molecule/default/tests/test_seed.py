"""A hypervisor that lost a VM's cloud-init seed (a reinstalled node, a
deleted file) gets a copy of the other hypervisor's, never one made again
from the inventory: the guest boots with the same seed wherever it runs.
A seed made again would not be the same file (ISO 9660 records when it was
made), so the same checksum on both proves the copy."""

from __future__ import annotations

import re

import pytest

from labkit import vms as lab_vms

pytestmark = pytest.mark.usefixtures("probe_tools")

SEED_DIR = "/var/lib/havirt/seeds"


def test_a_lost_seed_comes_back_as_a_copy_of_the_other_hypervisors(inv):
    vm = next(v["name"] for v in lab_vms.vms() if v.get("cloud_init"))
    where = lab_vms.running_on(vm)
    other = next(h for h in inv.group("hypervisors") if h not in where)
    keeper = inv.node(where[0])
    before = keeper.check_output("sha256sum %s/%s.iso", SEED_DIR, vm).split()[0]
    inv.node(other).check_output("rm %s/%s.iso", SEED_DIR, vm)

    run = lab_vms.playbook("site.yml", "--tags", "vms", timeout=600)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    changed = dict(re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", run.stdout, re.M))
    # Every node is in the recap (the facts play runs on all); only `other` changed.
    assert {h for h, n in changed.items() if n != "0"} == {other}, run.stdout[-3000:]
    assert changed[other] == "1", run.stdout[-3000:]
    assert f"{vm} from {where[0]}" in run.stdout, run.stdout[-3000:]
    for host in inv.group("hypervisors"):
        assert inv.node(host).check_output("sha256sum %s/%s.iso", SEED_DIR, vm).split()[0] == before, host
    # The seed in use was not touched: the guest still reads it.
    assert "local-hostname: %s" % vm in lab_vms.http_get(vm, "/cgi-bin/seed", timeout=10)
