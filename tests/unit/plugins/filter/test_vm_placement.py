"""Where the cluster may run the VMs (plugins/filter/vm_placement.py): the
anti-affinity constraints, each hypervisor's capacity, the refusal of a
capacity under what runs now, and the constraints left over. Cluster views
from the CIBs captured in the container lab (module_utils/fixtures)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter.vm_placement import (
    room, unavailable, used, vms_with_state, vm_avoid_constraints, vm_capacity_refusals, vm_node_capacities, vm_stale_avoid_constraints)
from ansible_collections.havirt.cluster.plugins.module_utils.pacemaker_status import merge, parse_crm_mon, parse_meta

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "pacemaker_status"
FILTER_FIXTURES = Path(__file__).parent / "fixtures"
VMS = [{"name": "passata", "memory_mb": 128},
       {"name": "speedauth", "memory_mb": 128, "vcpus": 2, "tags": ["radius"]},
       {"name": "masterauth", "memory_mb": 128, "tags": ["radius"], "avoid": ["radius"]},
       {"name": "soldi", "memory_mb": 512, "avoid": ["passata"], "avoid_strict": True}]


def _status():
    # passata and speedauth on servvirt1, masterauth on servvirt2.
    return dict(merge(parse_crm_mon((FIXTURES / "crm_mon-healthy.xml").read_text()),
                      parse_meta((FIXTURES / "resources-healthy.xml").read_text())), available=True)


def test_each_pair_kept_apart_once_the_one_that_names_the_other_moves():
    assert vm_avoid_constraints(VMS) == [
        {"id": "vm-masterauth-avoids-vm-speedauth", "rsc": "vm-masterauth", "with_rsc": "vm-speedauth", "score": "-1000"},
        {"id": "vm-soldi-avoids-vm-passata", "rsc": "vm-soldi", "with_rsc": "vm-passata", "score": "-INFINITY"}]


def test_a_pair_named_from_both_sides_is_one_constraint_strict_if_either_says_so():
    vms = [{"name": "dns1", "avoid": ["dns2"]}, {"name": "dns2", "avoid": ["dns1"], "avoid_strict": True}]
    assert vm_avoid_constraints(vms, prefix="", score=500) == [
        {"id": "dns1-avoids-dns2", "rsc": "dns1", "with_rsc": "dns2", "score": "-INFINITY"}]


def test_three_vms_of_one_tag_keep_apart_pairwise():
    vms = [{"name": n, "tags": ["dns"], "avoid": ["dns"]} for n in ("a", "b", "c")]
    assert [c["id"] for c in vm_avoid_constraints(vms)] == ["vm-a-avoids-vm-b", "vm-a-avoids-vm-c", "vm-b-avoids-vm-c"]


@pytest.mark.parametrize("score", [0, -5, "x"])
def test_a_score_that_is_not_a_positive_number_fails(score):
    with pytest.raises(AnsibleFilterError, match="the score must be a whole number above 0"):
        vm_avoid_constraints(VMS, score=score)


def _hostvars(**capacity):
    return {"servvirt1": {"ansible_facts": {"memtotal_mb": 3924, "processor_vcpus": 2}},
            "servvirt2": dict({"ansible_facts": {"memtotal_mb": 7940, "processor_vcpus": 4}}, **capacity)}


def test_capacity_is_memory_less_the_reserve_and_cpus_times_the_ratio():
    assert vm_node_capacities(["servvirt1", "servvirt2"], _hostvars(), 1024, 4) == {
        "servvirt1": {"cpu": 8, "hv_memory": 2900, "host_memory": 2900},
        "servvirt2": {"cpu": 16, "hv_memory": 6916, "host_memory": 6916}}


def test_a_hosts_own_capacity_overrides_the_computed_one():
    capacities = vm_node_capacities(["servvirt2"], _hostvars(havirt_vm_capacity={"memory_mb": 300}), 1024, 4)
    assert capacities == {"servvirt2": {"cpu": 16, "hv_memory": 300, "host_memory": 300}}


def test_a_xen_dom0_offers_what_xen_has_for_guests_not_its_own_memory():
    """The Xen lab's dom0 (1024 MiB of a 3071 MiB host): its memtotal_mb is
    dom0's, the hypervisor role's local fact has Xen's figures (libvirt's
    libxl driver on servvirt1, 2026-12-05; the key as setup stores it).
    dom0's share is the reserve."""
    xen = {"total_memory_mb": 3071, "dom0_memory_mb": 1024, "guest_memory_mb": 2047}
    hostvars = {"servvirt1": {"ansible_facts": {"memtotal_mb": 897, "processor_vcpus": 2, "ansible_local": {"havirt_xen": xen}}}}
    assert vm_node_capacities(["servvirt1"], hostvars, 1024, 4) == {
        "servvirt1": {"cpu": 8, "hv_memory": 2047, "host_memory": 2047}}
    # A fact that could not read libvirt: said, not dom0's memory taken instead.
    hostvars["servvirt1"]["ansible_facts"]["ansible_local"]["havirt_xen"] = {"error": "Failed to connect socket"}
    with pytest.raises(AnsibleFilterError, match=r"servvirt1 runs Xen, .* could not be read from libvirt \(Failed"):
        vm_node_capacities(["servvirt1"], hostvars, 1024, 4)


def test_a_host_without_facts_keeps_the_clusters_capacity_or_fails():
    hostvars = {"servvirt1": {}}
    current = {"servvirt1": {"cpu": 8, "hv_memory": 2900, "host_memory": 2900}}
    assert vm_node_capacities(["servvirt1"], hostvars, current=current) == current
    with pytest.raises(AnsibleFilterError, match="no memory facts for servvirt1 and no capacity in the cluster"):
        vm_node_capacities(["servvirt1"], hostvars, current={"servvirt1": {}})


def test_a_reserve_above_the_memory_fails():
    with pytest.raises(AnsibleFilterError, match="servvirt1 would offer its VMs -76 MiB"):
        vm_node_capacities(["servvirt1"], _hostvars(), 4000, 4)


def test_a_capacity_under_what_a_hypervisor_runs_is_refused():
    small = {"servvirt1": {"cpu": 8, "hv_memory": 200, "host_memory": 200},
             "servvirt2": {"cpu": 8, "hv_memory": 200, "host_memory": 200}}
    assert vm_capacity_refusals(_status(), VMS, small) == [
        "servvirt1 runs passata, speedauth, which need more than its new capacity offers (memory: 256 MiB run there, "
        "200 offered): the cluster would stop VMs there. Move some first (migrate.yml), or raise its "
        "havirt_vm_capacity or lower pacemaker_vm_host_reserve_mb"]
    few_cpus = dict(small, servvirt1={"cpu": 2, "hv_memory": 256, "host_memory": 256})
    assert vm_capacity_refusals(_status(), VMS, few_cpus)[0].startswith(
        "servvirt1 runs passata, speedauth, which need more than its new capacity offers (vCPUs: 3 vCPUs run there, "
        "2 offered)")
    enough = dict(small, servvirt1={"cpu": 3, "hv_memory": 256, "host_memory": 256})
    assert vm_capacity_refusals(_status(), VMS, enough) == []


def test_no_refusal_when_the_cluster_did_not_answer():
    assert vm_capacity_refusals({"available": False}, VMS, {"servvirt1": {"hv_memory": 1}}) == []


def test_constraints_no_longer_wanted_are_found():
    # The container lab's constraints with masterauth kept apart from speedauth (test_placement.py's inventory).
    constraints = (FILTER_FIXTURES / "constraints-avoid-pacemaker3.xml").read_text()
    apart = [dict(vm, avoid=["speedauth"]) if vm["name"] == "masterauth" else vm for vm in VMS[:3]]
    assert vm_stale_avoid_constraints(constraints, vm_avoid_constraints(apart)) == []
    assert vm_stale_avoid_constraints(constraints, []) == ["vm-masterauth-avoids-vm-speedauth"]
    # Only the role's own: another prefix's, or a colocation of someone else's, is never returned.
    assert vm_stale_avoid_constraints(constraints, [], prefix="kvm-") == []
    assert vm_stale_avoid_constraints("", []) == []


def test_room_counts_what_the_cluster_runs_on_the_node():
    offer = {"hv_memory": "300", "host_memory": "300", "cpu": "8"}
    status = dict(_status(), placement_strategy="balanced", capacity={"servvirt1": offer, "servvirt2": offer})
    # passata (128) and speedauth (128, 2 vCPUs) run on servvirt1: 44 MiB left.
    fit = room(status, VMS[3], VMS, "servvirt1")
    assert fit["free"] == {"cpu": 5, "hv_memory": 44, "host_memory": 44}
    assert fit["offered"] == {"cpu": 8, "hv_memory": 300, "host_memory": 300}
    assert fit["short"] == ["hv_memory", "host_memory"]
    # masterauth (128) alone on servvirt2: 172 MiB left, enough for another.
    assert room(status, VMS[0], VMS, "servvirt2")["short"] == []
    # What runs where, computed once by a caller that asks about each node, gives the same answers.
    taken = used(status, VMS)
    for node in ("servvirt1", "servvirt2"):
        assert room(status, VMS[3], VMS, node, taken=taken) == room(status, VMS[3], VMS, node)


def test_no_room_is_short_while_the_cluster_weighs_no_capacity():
    assert room(_status(), VMS[3], VMS, "servvirt1")["short"] == []


def test_unavailable_says_why_a_node_takes_nothing():
    status = {"available": True, "nodes": {"a": {"online": True}, "b": {"online": False},
                                           "c": {"online": True, "standby": True},
                                           "d": {"online": True, "maintenance": True}}}
    assert [unavailable(status, node) for node in "abcde"] == ["", "offline", "in standby", "in maintenance", "offline"]
    assert unavailable({"available": False}, "a") == ""


def test_present_and_absent_vms():
    vms = [{"name": "a"}, {"name": "b", "state": "absent"}, {"name": "c", "state": "present"}, "junk", {"state": "absent"}]
    assert [vm["name"] for vm in vms_with_state(vms)] == ["a", "c"]
    assert [vm["name"] for vm in vms_with_state(vms, "absent")] == ["b"]
    with pytest.raises(AnsibleFilterError, match="present or absent"):
        vms_with_state(vms, "gone")
