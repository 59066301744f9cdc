"""The decisions of a live migration (plugins/filter/vm_move.py): every
refusal, the choice of source and destination, what settles a move, and
the report. The cluster views are pacemaker_status results built from the
CIBs captured in the container lab (module_utils/fixtures/pacemaker_status)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter.vm_move import (
    vm_move_hosts, vm_move_plan, vm_move_report, vm_move_settle)
from ansible_collections.havirt.cluster.plugins.module_utils.pacemaker_status import (
    merge, parse_crm_mon, parse_meta, unwatched)

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "pacemaker_status"
HYPERVISORS = ["servvirt1", "servvirt2"]
VMS = [{"name": "passata", "preferred": "servvirt1", "disk": {"path": "/cluster/passata.img"}},
       {"name": "soldi", "preferred": "servvirt2", "disk": {"drbd": "soldi"}}]
GIB = 1 << 30


def _cluster(mon="crm_mon-healthy.xml", resources="resources-healthy.xml"):
    status = merge(parse_crm_mon((FIXTURES / mon).read_text()), parse_meta((FIXTURES / resources).read_text()))
    return dict(status, unwatched=dict((rid, unwatched(r)) for rid, r in status["resources"].items() if unwatched(r)))


def _looks(here=("servvirt1",), migrating=(), freemem=None, cluster=None):
    freemem = freemem or {"servvirt1": 2 * GIB, "servvirt2": 3 * GIB}
    return dict((host, {"here": host in here, "migrating": host in migrating, "freemem": freemem.get(host, 0),
                        "cluster": cluster if cluster is not None else _cluster()}) for host in HYPERVISORS)


def _plan(looks=None, vm="passata", **kwargs):
    kwargs.setdefault("managed", True)
    return vm_move_plan(looks if looks is not None else _looks(), vm, VMS, HYPERVISORS, **kwargs)


def test_a_vm_on_one_hypervisor_goes_to_the_other():
    plan = _plan()
    assert plan["problems"] == []
    assert (plan["source"], plan["destination"], plan["moving"]) == ("servvirt1", "servvirt2", True)
    assert plan["resources"] == ["vm-passata"] and plan["drbd"] == "" and plan["disk_path"] == "/cluster/passata.img"
    assert (plan["resuming"], plan["interrupted"]) == (False, None)


def test_without_a_destination_the_one_with_the_most_free_memory_is_chosen():
    three = HYPERVISORS + ["servvirt3"]
    looks = {"servvirt1": {"here": True}, "servvirt2": {"freemem": GIB}, "servvirt3": {"freemem": 4 * GIB}}
    plan = vm_move_plan(looks, "passata", VMS, three, managed=False)
    assert plan["destination"] == "servvirt3"
    plan = vm_move_plan(looks, "passata", VMS, three, to="servvirt2", managed=False)
    assert plan["destination"] == "servvirt2"


def test_asked_to_go_where_it_is_nothing_moves():
    plan = _plan(to="servvirt1")
    assert plan["problems"] == [] and plan["moving"] is False


def test_a_vm_on_drbd_takes_its_clone_along():
    plan = _plan(_looks(cluster={"resources": {"vm-soldi": {"move": None}, "drbd-soldi-clone": {}}, "unwatched": {}}),
                 vm="soldi")
    assert plan["problems"] == []
    assert plan["resources"] == ["vm-soldi", "drbd-soldi-clone"] and plan["drbd"] == "soldi"


def test_prefixes_name_the_resources():
    plan = _plan(_looks(cluster={"resources": {"havirt_vm_soldi": {}, "havirt_drbd_soldi-clone": {}}}), vm="soldi",
                 vm_prefix="havirt_vm_", drbd_prefix="havirt_drbd_")
    assert plan["problems"] == [] and plan["resources"] == ["havirt_vm_soldi", "havirt_drbd_soldi-clone"]


def test_an_unknown_vm_is_refused_with_the_known_ones():
    plan = _plan(vm="nope")
    assert plan["problems"] == ["'nope' is not one of the cluster's VMs: passata, soldi."]
    assert vm_move_plan({}, "nope", [], HYPERVISORS)["problems"] == ["'nope' is not one of the cluster's VMs: havirt_vms is empty."]


def test_a_destination_that_is_not_a_hypervisor_is_refused():
    assert _plan(to="servdb")["problems"] == ["'servdb' is not a hypervisor (VMs run only on servvirt1, servvirt2)."]


@pytest.mark.parametrize("here,migrating,expected", [
    ((), (), "passata is not running on any hypervisor (servvirt1, servvirt2): start it first."),
    (HYPERVISORS, (), "passata runs on servvirt1 and servvirt2 at once: stop the wrong copy by hand"),
    (("servvirt1",), ("servvirt1",), "A migration of passata is still under way on servvirt1 after 300 s"),
])
def test_a_vm_that_is_not_in_one_place_is_refused(here, migrating, expected):
    plan = _plan(_looks(here=here, migrating=migrating), timeout=300)
    assert len(plan["problems"]) == 1 and plan["problems"][0].startswith(expected), plan["problems"]
    assert plan["moving"] is False and plan["source"] == ""


def test_with_one_hypervisor_there_is_nowhere_to_go():
    plan = vm_move_plan({"servvirt1": {"here": True}}, "passata", VMS, ["servvirt1"], managed=False)
    assert plan["problems"] == ["There is no other hypervisor to move passata to."]


def test_a_resource_the_cluster_lacks_is_refused():
    plan = _plan(vm="soldi")
    assert plan["problems"][0].startswith("The cluster has no resource vm-soldi, drbd-soldi-clone, which the inventory")


def test_a_vm_an_administrator_took_out_of_the_cluster_is_refused():
    cluster = _cluster("crm_mon-maintenance-unmanaged.xml", "resources-maintenance-unmanaged.xml")
    cluster["resources"]["vm-passata"]["move"] = None
    cluster["unwatched"]["vm-passata"] = unwatched(cluster["resources"]["vm-passata"])
    plan = _plan(_looks(cluster=cluster))
    assert plan["problems"][0].startswith("passata's resource vm-passata is in maintenance, set outside "
                                          "migrate.yml"), plan["problems"]


def test_a_move_a_killed_run_left_is_resumed_not_refused():
    plan = _plan(_looks(cluster=_cluster("crm_mon-maintenance-unmanaged.xml", "resources-maintenance-unmanaged.xml")))
    assert plan["problems"] == []
    assert plan["resuming"] is True and plan["interrupted"] == {"from": "servvirt1", "to": "servvirt2"}


def test_a_vm_the_cluster_does_not_run_ignores_the_cluster():
    plan = _plan(_looks(cluster={}), managed=False)
    assert plan["problems"] == [] and plan["resources"] == [] and plan["managed"] is False


def test_bad_answers_fail_loudly():
    with pytest.raises(AnsibleFilterError, match="must be a dict by host"):
        vm_move_plan(["servvirt1"], "passata", VMS, HYPERVISORS)
    with pytest.raises(AnsibleFilterError, match="needs the plan"):
        vm_move_settle({}, {})
    with pytest.raises(AnsibleFilterError, match="needs the plan"):
        vm_move_report(None)


def _drbd_plan(**kwargs):
    plan = _plan(_looks(cluster={"resources": {"vm-soldi": {}, "drbd-soldi-clone": {}}}), vm="soldi")
    plan.update(kwargs)
    return plan


def test_after_a_move_the_copy_it_left_is_demoted_first():
    settle = vm_move_settle({"servvirt1": {"here": False}, "servvirt2": {"here": True}}, _drbd_plan())
    assert settle == {"runs_on": ["servvirt2"], "hand_back_on": "servvirt2",
                      "drbd": [{"host": "servvirt1", "role": "secondary"}, {"host": "servvirt2", "role": None}]}


def test_after_a_failed_move_the_destination_is_demoted():
    settle = vm_move_settle({"servvirt1": {"here": True}, "servvirt2": {"here": False}}, _drbd_plan())
    assert settle["drbd"] == [{"host": "servvirt2", "role": "secondary"}, {"host": "servvirt1", "role": None}]
    assert settle["hand_back_on"] == "servvirt1"


def test_a_vm_that_runs_nowhere_has_every_copy_demoted_and_the_source_hands_back():
    settle = vm_move_settle({"servvirt1": {}, "servvirt2": {}}, _drbd_plan())
    assert [step["role"] for step in settle["drbd"]] == ["secondary", "secondary"]
    assert settle["runs_on"] == [] and settle["hand_back_on"] == "servvirt1"


def test_an_interrupted_move_settles_the_hosts_it_touched_too():
    looks = {"servvirt1": {}, "servvirt2": {}, "servvirt3": {"here": True}}
    plan = _drbd_plan(source="servvirt3", destination="servvirt1", interrupted={"from": "servvirt2", "to": "servvirt3"})
    settle = vm_move_settle(looks, plan)
    assert settle["drbd"] == [{"host": "servvirt2", "role": "secondary"}, {"host": "servvirt1", "role": "secondary"},
                              {"host": "servvirt3", "role": None}]


def test_the_hosts_a_move_touched_are_named_from_the_plan():
    assert vm_move_hosts(_drbd_plan()) == ["servvirt1", "servvirt2"]
    plan = _drbd_plan(source="servvirt3", destination="servvirt1", interrupted={"from": "servvirt2", "to": "servvirt3"})
    assert vm_move_hosts(plan) == ["servvirt2", "servvirt3", "servvirt1"]
    with pytest.raises(AnsibleFilterError, match="needs the plan"):
        vm_move_hosts({})


def test_a_failed_migration_under_upgrade_keeps_the_copy_the_vm_runs_on():
    """migrate_settle.yml's looks as its loop registers them (2026-12-07, the
    VM lab's upgrade.yml: the migration aborted after 300 s, passata still
    on servvirt1): servvirt1 keeps its primary, only servvirt2 is demoted.
    A look that failed (libvirtd killed) counts as not here."""
    looks = {"servvirt1": {"item": "servvirt1", "changed": False, "state": "running", "reason": "migration_canceled",
                           "job": "none", "migrating": False, "here": True, "waited_s": 0.0},
             "servvirt2": {"item": "servvirt2", "changed": False, "state": "absent", "reason": "unknown", "job": "none",
                           "migrating": False, "here": False, "waited_s": 0.0}}
    settle = vm_move_settle(looks, _drbd_plan())
    assert settle["drbd"] == [{"host": "servvirt2", "role": "secondary"}, {"host": "servvirt1", "role": None}]
    assert settle["hand_back_on"] == "servvirt1"
    refused = "Failed to connect socket to '/var/run/libvirt/libvirt-sock': Connection refused"
    looks["servvirt2"] = {"item": "servvirt2", "failed": True, "msg": refused}
    assert vm_move_settle(looks, _drbd_plan())["runs_on"] == ["servvirt1"]


def test_a_vm_not_on_drbd_has_no_drbd_step():
    assert vm_move_settle({"servvirt2": {"here": True}}, _plan())["drbd"] == []


def test_the_report_of_a_move():
    result = {"changed": True, "stats": {"total_ms": 2210, "downtime_ms": 186, "memory_transferred_bytes": 67318170}}
    report = vm_move_report(_plan(), result)
    assert report == {"vm": "passata", "from": "servvirt1", "to": "servvirt2", "changed": True, "stats": result["stats"],
                      "left": "", "summary": "passata: servvirt1 -> servvirt2, total 2210 ms, downtime 186 ms, 64.2 MiB moved"}


def test_the_report_of_a_move_whose_driver_keeps_no_statistics():
    """libxl (Xen lab, Debian 12): every job statistic None, the module's own clock."""
    stats = {"total_ms": None, "downtime_ms": None, "memory_transferred_bytes": None, "wall_ms": 48211}
    report = vm_move_report(_plan(), {"changed": True, "stats": stats})
    assert report["summary"] == ("passata: servvirt1 -> servvirt2, total 48211 ms (the module's clock: the "
                                 "hypervisor's driver reports no downtime or memory figures)")


def test_the_report_of_a_settled_interrupted_move_and_no_move():
    plan = dict(_plan(to="servvirt1"), interrupted={"from": "servvirt1", "to": "servvirt2"})
    report = vm_move_report(plan, {"skipped": True, "changed": False})
    assert report["summary"] == ("passata: an interrupted move servvirt1 -> servvirt2 settled (it ran on servvirt1); "
                                 "already on servvirt1, nothing moved")
    assert report["changed"] is False and report["stats"] == {}


def test_the_report_of_a_check_mode_run():
    """live_migrate in check mode: changed (it would move), no stats."""
    report = vm_move_report(_plan(), {"changed": True, "source": "servvirt1", "destination": "servvirt2"})
    assert report["summary"] == "passata: would move servvirt1 -> servvirt2 (check mode: nothing moved)"


def test_a_disk_that_is_not_a_dict_is_no_drbd_and_no_path():
    vms = [{"name": "passata", "preferred": "servvirt1", "disk": "passata.img"}]
    plan = vm_move_plan(_looks(cluster={}), "passata", vms, HYPERVISORS, managed=False)
    assert (plan["drbd"], plan["disk_path"], plan["problems"]) == ("", "", [])


# Placement: VMs kept apart (avoid) and the room each hypervisor offers. In the captured cluster passata and
# speedauth run on servvirt1, masterauth on servvirt2.
APART = [{"name": "passata", "preferred": "servvirt1", "memory_mb": 128, "disk": {"lun": 2}},
         {"name": "speedauth", "preferred": "servvirt1", "memory_mb": 128, "disk": {"lun": 3}, "tags": ["radius"]},
         {"name": "masterauth", "preferred": "servvirt2", "memory_mb": 128, "disk": {"lun": 4},
          "tags": ["radius"], "avoid": ["radius"]}]


def _apart_plan(vm, cluster=None, **kwargs):
    here = [host for host in HYPERVISORS if host in (cluster or _cluster())["resources"]["vm-" + vm]["nodes"]]
    return vm_move_plan(_looks(here=here, cluster=cluster), vm, APART, HYPERVISORS, **kwargs)


@pytest.mark.parametrize("vm", ["masterauth", "speedauth"])
def test_a_move_onto_a_vm_it_is_kept_apart_from_is_refused(vm):
    # Either side of the pair: the cluster would move one of them away again at once.
    plan = _apart_plan(vm)
    other = "speedauth" if vm == "masterauth" else "masterauth"
    assert len(plan["problems"]) == 1
    assert plan["problems"][0].startswith("%s is kept apart from %s (avoid, in havirt_vms), which runs on " % (vm, other))
    assert "the cluster would move one of them away again at once" in plan["problems"][0]


def test_a_vm_kept_apart_from_none_on_the_destination_moves():
    assert _apart_plan("passata")["problems"] == []


def test_an_evacuation_leaves_a_vm_kept_apart_for_the_standby_to_move():
    plan = _apart_plan("masterauth", evacuating=True)
    assert plan["problems"] == [] and plan["moving"] is False
    assert plan["left"].startswith("masterauth is kept apart from speedauth")
    report = vm_move_report(plan, {"skipped": True, "changed": False})
    assert report["changed"] is False and report["left"] == plan["left"]
    assert report["summary"].startswith("masterauth: left on servvirt2: masterauth is kept apart from speedauth")


def test_with_the_other_hypervisor_in_standby_vms_kept_apart_may_meet():
    # The source in standby (maintenance.yml): the cluster itself would put them together.
    cluster = _cluster()
    cluster["nodes"]["servvirt2"] = dict(cluster["nodes"]["servvirt2"], standby=True)
    assert _apart_plan("masterauth", cluster=cluster, to="servvirt1")["problems"] == []


def _with_capacity(memory, strategy="balanced"):
    cluster = _cluster()
    cluster.update(placement_strategy=strategy, capacity={
        host: {"cpu": 8, "hv_memory": memory, "host_memory": memory} for host in HYPERVISORS})
    return cluster


def test_a_destination_without_room_is_refused():
    # servvirt1 offers 300 MiB and runs 256 MiB of VMs: masterauth's 128 MiB do not fit.
    plan = _apart_plan("masterauth", cluster=_with_capacity(300), evacuating=True)
    assert plan["problems"] == [
        "masterauth needs 128 MiB and 1 vCPUs; servvirt1 offers the cluster's VMs 300 MiB and 8 vCPUs, of which 44 MiB "
        "and 6 vCPUs are free: the cluster would stop it there. Move another VM off servvirt1 first, or raise its "
        "capacity (havirt_vm_capacity)."]


def test_room_is_not_weighed_when_the_cluster_does_not_weigh_it():
    plan = _apart_plan("passata", cluster=_with_capacity(10, strategy="default"))
    assert plan["problems"] == [] and plan["moving"] is True


def test_a_vm_marked_absent_is_not_moved():
    vms = [dict(VMS[0], state="absent"), VMS[1]]
    plan = vm_move_plan(_looks(), "passata", vms, HYPERVISORS, managed=True)
    assert plan["problems"] == ["passata is marked state: absent in havirt_vms: site.yml stops it and removes it; it is "
                                "not moved. Remove the mark (or set state: present) to keep it."]
    assert plan["moving"] is False
