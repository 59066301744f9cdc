"""Placement the cluster enforces (pacemaker role): each hypervisor's
capacity for the VMs, VMs kept apart (avoid), priorities, and a survivor
that cannot hold every VM after a crash. The lab's inventory sets none of
it: the tests give it to site.yml as extra variables (the two RADIUS
servers, speedauth and masterauth, kept apart and first to start; 300 MiB
offered per hypervisor, so that a survivor holds two of the three 128 MiB
VMs), then run site.yml without them, which takes it all back."""

from __future__ import annotations

import re

import pytest
import yaml

from test_status import _status

from labkit import failover as fo
from labkit import vms as lab_vms

pytestmark = pytest.mark.usefixtures("probe_tools")

CAPACITY_MB = 300
# What the lab's fence agent waits before it powers a fenced node on again, while the survivor's state is read.
LONG_POWER_ON_DELAY = 150
STATE = {"placement": False}


def _storage(inv):
    return inv.node(inv.group("storage")[0])


def _vars_file(inv, tmp_path_factory, name, capacity_mb):
    """Extra variables: the lab's havirt_vms with speedauth and masterauth
    kept apart and first, and each hypervisor's capacity."""
    roles = yaml.safe_load((inv.inventory_path() / "group_vars" / "cluster" / "roles.yml").read_text())
    vms = roles["havirt_vms"]
    for vm in vms:
        if vm["name"] in ("speedauth", "masterauth"):
            vm["priority"] = 10
        if vm["name"] == "masterauth":
            vm["avoid"] = ["speedauth"]
    path = tmp_path_factory.mktemp("placement") / name
    path.write_text(yaml.safe_dump({"havirt_vms": vms, "havirt_vm_capacity": {"memory_mb": capacity_mb}}))
    return path


def _utilization(inv, node, name):
    out = _storage(inv).check_output("crm_attribute --node %s --utilization --name %s --query --quiet", node, name)
    return int(out.strip())


@pytest.fixture(scope="module", autouse=True)
def placement_undone(inv):
    """Settled before; after, if a test stopped half-way: site.yml without
    the extra variables, and every VM back on its preferred hypervisor."""
    fo.wait_settled()
    yield
    if STATE["placement"]:
        fo.wait_settled(timeout=400)
        run, said = lab_vms.site()
        assert run.returncode == 0, said[-3000:]
        _home()


def _home():
    fo.wait_settled()
    lab_vms.send_home()


def test_each_hypervisor_offers_its_memory_less_the_reserve(inv):
    assert _storage(inv).check_output(
        "crm_attribute --type crm_config --name placement-strategy --query --quiet").strip() == "balanced"
    for node in inv.group("hypervisors"):
        host = inv.node(node)
        memtotal_mb = int(host.check_output("awk '/^MemTotal:/ {print $2}' /proc/meminfo")) // 1024
        cpus = int(host.check_output("nproc --all"))
        assert _utilization(inv, node, "hv_memory") == memtotal_mb - 1024, node
        assert _utilization(inv, node, "host_memory") == memtotal_mb - 1024, node
        assert _utilization(inv, node, "cpu") == cpus * 4, node


def test_a_capacity_under_what_a_hypervisor_runs_is_refused(inv, tmp_path_factory):
    before = _storage(inv).check_output("cibadmin --query --scope nodes")
    run, said = lab_vms.site("-e", f"@{_vars_file(inv, tmp_path_factory, 'small.yml', 200)}")
    assert run.returncode != 0
    assert "servvirt1 runs passata, speedauth, which need more than its new capacity offers (memory: 256 MiB run " \
           "there, 200 offered): the cluster would stop VMs there" in said, said[-3000:]
    assert _storage(inv).check_output("cibadmin --query --scope nodes") == before
    for vm in lab_vms.vms():
        assert lab_vms.running_on(vm["name"]) == [vm["preferred"]], vm["name"]


def test_vms_kept_apart_and_a_move_the_cluster_would_undo_is_refused(inv, tmp_path_factory):
    STATE["placement"] = True
    # The same variables for every playbook, as an inventory would hold them.
    placement = ("-e", f"@{_vars_file(inv, tmp_path_factory, 'placement.yml', CAPACITY_MB)}")
    run, said = lab_vms.site(*placement)
    assert run.returncode == 0, said[-3000:]
    constraints = _storage(inv).check_output("cibadmin --query --scope constraints")
    assert re.search(r'<rsc_colocation id="vm-masterauth-avoids-vm-speedauth" rsc="vm-masterauth" '
                     r'with-rsc="vm-speedauth" score="-1000"/>', constraints), constraints
    for node in inv.group("hypervisors"):
        assert _utilization(inv, node, "hv_memory") == CAPACITY_MB
    for vm in ("speedauth", "masterauth"):
        assert lab_vms.crm(inv, "--resource", f"vm-{vm}", "--meta", "--get-parameter", "priority").strip() == "10"

    # speedauth onto masterauth's hypervisor: they are kept apart, and the cluster would part them again.
    run = lab_vms.playbook("migrate.yml", "-e", "vm=speedauth", "-e", "to=servvirt2", *placement)
    assert run.returncode != 0
    assert "speedauth is kept apart from masterauth (avoid, in havirt_vms), which runs on servvirt2" in run.stdout
    # masterauth onto servvirt1: no room there (256 of its 300 MiB taken).
    run = lab_vms.playbook("migrate.yml", "-e", "vm=masterauth", "-e", "to=servvirt1", *placement)
    assert run.returncode != 0
    assert ("masterauth needs 128 MiB and 1 vCPUs; servvirt1 offers the cluster's VMs 300 MiB and "
            in run.stdout), run.stdout[-3000:]
    for vm in lab_vms.vms():
        assert lab_vms.running_on(vm["name"]) == [vm["preferred"]], vm["name"]
    assert "unmanaged" not in _storage(inv).check_output("crm_mon --one-shot --output-as=xml --include=resources")


def test_a_survivor_without_room_for_all_runs_the_first_and_says_why_the_last_waits(inv):
    """servvirt1 (passata, speedauth) crashes and stays off for a while;
    servvirt2 (masterauth) has room for two of the three: the two that
    matter run there (kept apart no longer: one hypervisor is left),
    passata waits, and status.yml says why. When servvirt1 is back passata
    starts there and masterauth leaves speedauth again, live."""
    victim, survivor = inv.group("hypervisors")
    assert STATE["placement"], "needs the placement of the test before"
    lab_vms.crm(inv, "--resource", "fence-lab", "--set-parameter", "power_on_delay",
                "--parameter-value", str(LONG_POWER_ON_DELAY))
    fo.wait_settled()
    started_before = fo.started_at(victim)
    fo.podman("kill", "--signal", "KILL", f"havirt-{victim}")
    inv.node.cache_clear()
    lab_vms.wait_for_http("speedauth", timeout=120)
    lab_vms.crm(inv, "--wait", "--timeout", "120s")
    placed = {vm: lab_vms.running_on(vm, [survivor]) for vm in ("passata", "speedauth", "masterauth")}
    lines = _status()
    assert fo.started_at(victim) == started_before, "the fenced node came back before its state was read: " \
                                                    "raise LONG_POWER_ON_DELAY"
    print(f"\nwith {victim} down: {placed}; status: {[line for line in lines if line.startswith('vm ')]}")
    assert placed == {"passata": [], "speedauth": [survivor], "masterauth": [survivor]}
    assert any(line.startswith("vm passata: NOT RUNNING (NO HYPERVISOR CAN HOLD IT: it needs 128 MiB and 1 vCPUs; ")
               and f"{victim} offline; {survivor} has 44 MiB of {CAPACITY_MB} free" in line for line in lines), lines

    assert fo.wait_restarted(victim, started_before, timeout=LONG_POWER_ON_DELAY + 120)
    inv.node.cache_clear()
    fo.wait_settled(timeout=400)
    for vm in ("passata", "speedauth", "masterauth"):
        lab_vms.wait_for_http(vm, timeout=120)
    assert lab_vms.running_on("passata") == [victim]
    assert lab_vms.running_on("speedauth") == [survivor]
    assert lab_vms.running_on("masterauth") == [victim]
    # Moved live by the cluster (allow-migrate), not restarted: its last operation on the returned node.
    history = _storage(inv).check_output(
        f"cibadmin --query --xpath \"//node_state[@uname='{victim}']//lrm_resource[@id='vm-masterauth']\"")
    assert 'operation="migrate_from"' in history, history


def test_site_without_the_placement_takes_it_back(inv):
    lab_vms.crm(inv, "--wait", "--timeout", "120s")
    run, said = lab_vms.site()
    assert run.returncode == 0, said[-3000:]
    STATE["placement"] = False
    assert "-avoids-" not in _storage(inv).check_output("cibadmin --query --scope constraints")
    assert _storage(inv).check_output(
        "crm_resource --resource fence-lab --get-parameter power_on_delay").strip() == "10"
    for node in inv.group("hypervisors"):
        assert _utilization(inv, node, "hv_memory") > CAPACITY_MB
    _home()
