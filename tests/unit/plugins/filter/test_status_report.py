"""status.yml's report (plugins/filter/status_report.py), from crm_mon and
CIB captures of the labs (module_utils fixtures) and the commands'
captured outputs."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter.status_report import status_reader, status_report
from ansible_collections.havirt.cluster.plugins.module_utils.pacemaker_status import (
    merge, parse_crm_mon, parse_meta, parse_resource_defaults, unwatched)

UNIT = Path(__file__).resolve().parents[2]
STATUS = UNIT / "plugins" / "module_utils" / "fixtures" / "pacemaker_status"
CHRONY = UNIT / "plugins" / "filter" / "fixtures" / "chrony"
STONITH = UNIT / "plugins" / "filter" / "fixtures" / "stonith_admin"
ISCSIADM = UNIT / "plugins" / "module_utils" / "fixtures" / "iscsiadm"
NODES = ["servdb", "servvirt1", "servvirt2"]
HYPERVISORS = NODES[1:]
VMS = [{"name": "passata", "memory_mb": 128}, {"name": "speedauth", "memory_mb": 128},
       {"name": "masterauth", "memory_mb": 256}]


def _cluster(crm_mon, resources):
    """What havirt.cluster.pacemaker_status returns for these captures."""
    status = merge(parse_crm_mon((STATUS / crm_mon).read_text()), parse_meta((STATUS / resources).read_text()))
    return dict(available=True, error="", unwatched={rid: unwatched(r) for rid, r in status["resources"].items()
                                                     if unwatched(r)}, **status)


def _stonith(name):
    return {"rc": int((STONITH / (name + ".rc")).read_text()), "stdout": (STONITH / (name + ".stdout")).read_text(),
            "stderr": (STONITH / (name + ".stderr")).read_text()}


def _hostvars(running=None, available=None, drbd=None):
    running = running or {"servvirt1": ["passata", "speedauth"], "servvirt2": ["masterauth"]}
    available = available or {"servvirt1": "700", "servvirt2": "600"}
    hostvars = {}
    for node in NODES:
        name = "servdb" if node == "servdb" else "servvirt1"
        values = {"__status_chrony": {"rc": 0, "stdout": (CHRONY / ("tracking-csv-%s-trixie.txt" % name)).read_text()}}
        if node in HYPERVISORS:
            values.update(__status_running={"list_vms": running.get(node, [])},
                          __status_available={"stdout": available[node]},
                          __status_iscsi={"stdout": (ISCSIADM / "session-P1-logged-in.stdout").read_text()},
                          __status_mount={"stdout": "/dev/sdb ocfs2\n"})
            if drbd is not None:
                values["__status_drbd"] = {"content": base64.b64encode(drbd.encode()).decode()}
        hostvars[node] = values
    return hostvars


def _report(cluster=None, hostvars=None, **kwargs):
    kwargs.setdefault("vms", VMS)
    kwargs.setdefault("fencing", _stonith("history-none-2.1.5"))
    return status_report(cluster or _cluster("crm_mon-healthy-pacemaker3.xml", "resources-healthy-pacemaker3.xml"),
                         hostvars or _hostvars(), NODES, hypervisors=HYPERVISORS, **kwargs)


def test_a_healthy_cluster():
    lines = _report()
    assert lines[0] == "cluster: 3/3 nodes online (servdb, servvirt1, servvirt2), quorum: yes, DC: servvirt2"
    assert lines[1:4] == ["vm passata: servvirt1", "vm speedauth: servvirt1", "vm masterauth: servvirt2"]
    assert lines[4] == "failed actions: none"
    assert lines[5] == "fencing history: none"
    assert lines[6].startswith("servdb: clock ") and "iSCSI" not in lines[6]
    assert lines[7].startswith("servvirt1: clock ")
    assert lines[7].endswith(", iSCSI sessions: 1, OCFS2: /dev/sdb ocfs2, VMs: passata speedauth, available 700 MiB")
    assert lines[-2:] == ["if servvirt1 dies: servvirt2 must take 256 MiB and has 344 MiB to spare -> OK",
                          "if servvirt2 dies: servvirt1 must take 256 MiB and has 444 MiB to spare -> OK"]
    assert len(lines) == 11


def test_a_vm_on_two_hypervisors_or_none_is_said_so():
    lines = _report(hostvars=_hostvars(running={"servvirt1": ["passata", "masterauth"], "servvirt2": ["masterauth"]}))
    assert "vm speedauth: NOT RUNNING" in lines
    assert "vm masterauth: servvirt1 AND servvirt2 (TWICE!)" in lines


def test_a_survivor_without_the_memory_is_said_so():
    lines = _report(hostvars=_hostvars(available={"servvirt1": "300", "servvirt2": "400"}))
    assert "if servvirt1 dies: servvirt2 must take 256 MiB and has 144 MiB to spare -> NOT ENOUGH MEMORY" in lines


def _weighed(servvirt1_mb, servvirt2_mb, strategy="balanced"):
    """The healthy capture with the capacity the pacemaker role writes."""
    cluster = _cluster("crm_mon-healthy-pacemaker3.xml", "resources-healthy-pacemaker3.xml")
    cluster.update(placement_strategy=strategy, capacity={
        "servvirt1": {"cpu": 8, "hv_memory": servvirt1_mb, "host_memory": servvirt1_mb},
        "servvirt2": {"cpu": 8, "hv_memory": servvirt2_mb, "host_memory": servvirt2_mb}})
    return cluster


def test_n_plus_one_counts_as_the_cluster_does_where_it_weighs_capacity():
    # servvirt1 runs passata and speedauth (256 MiB), servvirt2 masterauth (256 MiB);
    # available 700 and 600 MiB, less the 256 MiB reserve.
    assert _report(cluster=_weighed(900, 700))[-2:] == [
        "if servvirt1 dies: servvirt2 must take 256 MiB and has 344 MiB to spare (444 of its 700 MiB capacity free "
        "in the cluster, 344 available now less the reserve) -> OK",
        "if servvirt2 dies: servvirt1 must take 256 MiB and has 444 MiB to spare (644 of its 900 MiB capacity free "
        "in the cluster, 444 available now less the reserve) -> OK"]
    # Pacemaker's count is short: it would leave VMs stopped, whatever the host has free.
    assert ("if servvirt1 dies: servvirt2 must take 256 MiB and has 144 MiB to spare (144 of its 400 MiB capacity "
            "free in the cluster, 344 available now less the reserve) -> NOT ENOUGH ROOM: the cluster keeps some of "
            "them stopped (priority decides which)") in _report(cluster=_weighed(900, 400))
    # The capacity promises more than the host has: the cluster would start them into the OOM killer.
    short = _report(cluster=_weighed(900, 700), hostvars=_hostvars(available={"servvirt1": "700", "servvirt2": "400"}))
    assert ("if servvirt1 dies: servvirt2 must take 256 MiB and has 144 MiB to spare (444 of its 700 MiB capacity "
            "free in the cluster, 144 available now less the reserve) -> NOT ENOUGH MEMORY: the cluster would start "
            "them but the host has less free than its capacity says (raise pacemaker_vm_host_reserve_mb or lower "
            "havirt_vm_capacity)") in short
    # A cluster that weighs no capacity: the host's memory alone, as before.
    assert _report(cluster=_weighed(900, 700, "default"))[-2:] == _report()[-2:]


def test_vms_the_cluster_does_not_watch_or_does_not_have():
    cluster = _cluster("crm_mon-maintenance-unmanaged.xml", "resources-maintenance-unmanaged.xml")
    lines = _report(cluster, vms=VMS + [{"name": "radius", "memory_mb": 64}])
    passata = next(line for line in lines if line.startswith("vm passata: "))
    assert passata.startswith("vm passata: servvirt1 (NOT WATCHED BY THE CLUSTER: ")
    assert passata.endswith("; re-run migrate.yml -e vm=passata to settle a move, or give it back with crm_resource; "
                            "docs/runbooks/vm-unwatched.md)")
    assert "vm radius: NOT RUNNING (NOT IN THE CLUSTER: no resource vm-radius; run site.yml)" in lines
    # Not managed by the cluster: no note at all.
    assert "vm radius: NOT RUNNING" in _report(cluster, vms=VMS + [{"name": "radius"}], cluster_managed=False)


def test_a_resource_the_inventory_does_not_know_is_listed():
    lines = _report(vms=VMS[:2])
    assert ("vm masterauth: servvirt2 (UNKNOWN TO THE INVENTORY: resource vm-masterauth is not in havirt_vms; left "
            "as it is)") in lines


def test_a_cluster_manager_that_does_not_answer():
    cluster = {"available": False, "error": "crm_mon answered rc 102: Not connected"}
    lines = _report(cluster)
    assert lines[0] == ("cluster: 0/3 nodes online (none: is pacemaker running? crm_mon answered rc 102: Not "
                        "connected), quorum: NO, DC: none")
    assert "vm passata: servvirt1" in lines


def test_a_partition_without_quorum_names_its_runbook():
    """crm_mon on the storage node, both hypervisors killed (container lab)."""
    cluster = _cluster("crm_mon-quorum-lost-pacemaker3.xml", "resources-healthy-pacemaker3.xml")
    assert cluster["quorum"] is False
    lines = _report(cluster, hostvars=_hostvars(running={"servvirt1": [], "servvirt2": []}))
    assert lines[0] == ("cluster: 1/3 nodes online (servdb), quorum: NO (fewer than half the nodes see each other: "
                        "this part of the cluster stops its VMs and starts none; docs/runbooks/quorum-lost.md), "
                        "DC: servdb")
    for vm in ("passata", "speedauth", "masterauth"):
        assert ("vm %s: NOT RUNNING (NO QUORUM: the cluster starts no VM until it has one; "
                "docs/runbooks/quorum-lost.md)" % vm) in lines, lines
    # What the lab's status.yml registered for the two killed hypervisors.
    hostvars = _hostvars(running={"servvirt1": [], "servvirt2": []})
    for host in HYPERVISORS:
        hostvars[host] = {name: {"unreachable": True, "changed": False, "msg": "No route to host"}
                          for name in ("__status_chrony", "__status_running", "__status_available")}
    lines = _report(cluster, hostvars=hostvars)
    assert "servvirt1: UNREACHABLE (No route to host)" in lines
    assert ("if servvirt1 dies: servvirt2 must take 0 MiB; its free memory is unknown (unreachable) -> UNKNOWN"
            in lines), lines
    # With quorum, or with no partition that answered, no runbook.
    assert "quorum: yes, DC: " in _report()[0]
    assert _report({"available": False, "error": "crm_mon answered rc 102"})[0].endswith("quorum: NO, DC: none")


def test_failed_actions_and_fencing_history():
    cluster = _cluster("crm_mon-failed-action.xml", "resources-healthy.xml")
    lines = _report(cluster, fencing=_stonith("history-three-3.0.0"))
    failed = next(line for line in lines if line.startswith("failed actions: "))
    assert failed != "failed actions: none" and " on servvirt" in failed
    fencing = next(line for line in lines if line.startswith("fencing history: "))
    assert fencing.count(" | ") == 2


def test_unknown_results_read_as_unknown():
    hostvars = {node: {} for node in NODES}
    lines = _report(hostvars=hostvars, fencing={})
    assert "fencing history: unknown (stonith_admin did not run)" in lines
    assert "servvirt1: clock offset unknown (chronyc did not run), iSCSI sessions: 0, OCFS2: not mounted, VMs: none, " \
           "available ? MiB" in lines
    assert "vm passata: NOT RUNNING" in lines


def test_drbd_resources_are_read_from_proc_drbd():
    hostvars = _hostvars(drbd=(UNIT / "plugins" / "module_utils" / "fixtures" / "drbd" /
                               "proc_drbd_connected_primary.txt").read_text())
    hostvars["servvirt1"]["__status_split_brain"] = {"files": [{"path": "/var/lib/havirt/drbd-split-brain/passata"}]}
    lines = _report(hostvars=hostvars, drbd_resources=[{"name": "passata", "minor": 1}])
    line = next(line for line in lines if line.startswith("servvirt1: "))
    assert ", DRBD: passata: Connected Primary/Secondary UpToDate/UpToDate, SPLIT" in line
    assert line.endswith(", SPLIT BRAIN recorded: connected again; remove the record once checked "
                         "(docs/runbooks/drbd-split-brain.md)")
    hostvars["servvirt2"]["__status_drbd"] = {"content": "not base64!"}
    with pytest.raises(AnsibleFilterError, match="servvirt2's /proc/drbd is not base64"):
        _report(hostvars=hostvars, drbd_resources=[{"name": "passata", "minor": 1}])


def test_not_the_cluster_managers_view_is_an_error():
    with pytest.raises(AnsibleFilterError, match="expected the result of havirt.cluster.pacemaker_status"):
        status_report("crm_mon", {}, NODES)


def test_a_node_in_standby_takes_nothing_and_is_named():
    """maintenance.yml put servvirt2 in standby (capture): its VMs run on
    servvirt1, and if servvirt1 died they would have nowhere to go."""
    cluster = _cluster("crm_mon-standby-pacemaker3.xml", "resources-healthy-pacemaker3.xml")
    hostvars = _hostvars(running={"servvirt1": ["passata", "speedauth", "masterauth"], "servvirt2": []})
    lines = _report(cluster, hostvars)
    assert lines[0] == "cluster: 3/3 nodes online (servdb, servvirt1, servvirt2), quorum: yes, DC: servdb, standby: servvirt2"
    assert lines[-2:] == ["if servvirt1 dies: servvirt2 must take 512 MiB but is in standby -> NOWHERE TO GO",
                          "if servvirt2 dies: servvirt1 must take 0 MiB and has 444 MiB to spare -> OK"]


def _no_room(strategy="balanced"):
    """servvirt2 dead, masterauth not running anywhere: the capture, with servvirt2 offline and masterauth
    stopped as crm_mon shows them, plus the capacity the pacemaker role writes."""
    cluster = _cluster("crm_mon-healthy-pacemaker3.xml", "resources-healthy-pacemaker3.xml")
    cluster["nodes"]["servvirt2"] = dict(cluster["nodes"]["servvirt2"], online=False)
    cluster["resources"]["vm-masterauth"] = dict(cluster["resources"]["vm-masterauth"], nodes=[], active=False,
                                                 role="Stopped")
    cluster.update(placement_strategy=strategy, capacity={
        "servvirt1": {"cpu": 8, "hv_memory": 300, "host_memory": 300},
        "servvirt2": {"cpu": 8, "hv_memory": 300, "host_memory": 300}})
    return cluster


def test_a_vm_the_cluster_keeps_stopped_for_want_of_room_says_why():
    hostvars = _hostvars(running={"servvirt1": ["passata", "speedauth"], "servvirt2": []})
    lines = _report(cluster=_no_room(), hostvars=hostvars)
    assert ("vm masterauth: NOT RUNNING (NO HYPERVISOR CAN HOLD IT: it needs 256 MiB and 1 vCPUs; servvirt1 has 44 "
            "MiB of 300 free, 6 vCPUs of 8; servvirt2 offline; placement-strategy balanced)") in lines
    # A VM that fits somewhere, or a cluster that weighs no capacity: no such reason.
    assert "vm masterauth: NOT RUNNING" in _report(cluster=_no_room("default"), hostvars=hostvars)
    roomy = _no_room()
    roomy["capacity"]["servvirt1"] = {"cpu": 8, "hv_memory": 600, "host_memory": 600}
    assert "vm masterauth: NOT RUNNING" in _report(cluster=roomy, hostvars=hostvars)


def test_a_node_ansible_cannot_reach_is_said_so():
    hostvars = _hostvars(running={"servvirt1": ["passata", "speedauth"], "servvirt2": []})
    hostvars["servvirt2"] = {"__status_chrony": {
        "unreachable": True, "changed": False,
        "msg": "Failed to connect to the host via podman: Error: no container with name or ID havirt-servvirt2"}}
    lines = _report(cluster=_no_room(), hostvars=hostvars)
    assert ("servvirt2: UNREACHABLE (Failed to connect to the host via podman: Error: no container with name or ID "
            "havirt-servvirt2)") in lines


def test_a_vm_marked_absent_is_said_removed_or_still_there():
    absent = [dict(vm, state="absent") if vm["name"] == "masterauth" else vm for vm in VMS]
    # Still a resource, still running: site.yml has not run since the mark.
    assert "vm masterauth: servvirt2 (MARKED ABSENT: run site.yml to stop and remove it)" in _report(vms=absent)
    # Gone from the cluster and the hypervisors (the capture without its resource).
    cluster = _cluster("crm_mon-vm-stopped-pacemaker3.xml", "resources-healthy-pacemaker3.xml")
    cluster["resources"].pop("vm-masterauth")
    lines = _report(cluster, hostvars=_hostvars(running={"servvirt1": ["passata", "speedauth"], "servvirt2": []}),
                    vms=absent)
    assert "vm masterauth: NOT RUNNING (removed: state absent in havirt_vms; its disk is kept)" in lines
    assert not [line for line in lines if "UNKNOWN TO THE INVENTORY" in line or "NOT IN THE CLUSTER" in line]


def test_the_guest_agents_are_summed_up_when_asked():
    hostvars = _hostvars()
    assert not [line for line in _report(hostvars=hostvars) if line.startswith("guest agents")]
    hostvars["servvirt1"]["__status_agents"] = {"agents": {
        "passata": {"state": "answers"}, "speedauth": {"state": "not answering"}, "stray": {"state": "answers"}}}
    hostvars["servvirt2"]["__status_agents"] = {"agents": {"masterauth": {"state": "no channel"}}}
    assert ("guest agents: answering: passata; NOT ANSWERING (qemu-guest-agent not running in the guest, or busy): "
            "speedauth; NO CHANNEL (started before the vms role gave it one: restart the VM): masterauth"
            in _report(hostvars=hostvars))
    # A VM that stopped while asked is left out; nobody answering says none.
    hostvars["servvirt1"]["__status_agents"] = {"agents": {"passata": {"state": "not running"}}}
    hostvars["servvirt2"]["__status_agents"] = {"agents": {"masterauth": {"state": "???"}}}
    assert ("guest agents: answering: none; UNREADABLE (run havirt.cluster.guest_agent_info on its hypervisor): "
            "masterauth" in _report(hostvars=hostvars))


def test_a_vm_whose_start_failed_on_every_hypervisor_says_where_why_and_what_to_run():
    """speedauth's start failed on both hypervisors (its definition broken
    by hand; captured in the lab): the cluster leaves it stopped."""
    cluster = _cluster("crm_mon-vm-failed-start-pacemaker3.xml", "resources-healthy-pacemaker3.xml")
    lines = _report(cluster, _hostvars(running={"servvirt1": ["passata"], "servvirt2": ["masterauth"]}))
    assert ("vm speedauth: NOT RUNNING (FAILED TO START on servvirt2 at 2026-12-04 17:42:52Z: Failed to start "
            "virtual domain speedauth; servvirt1 at 2026-12-04 17:42:51Z: Failed to start virtual domain speedauth; "
            "fix the cause, then crm_resource --cleanup --resource vm-speedauth: docs/runbooks/vm-failed.md)"
            ) in lines, lines
    assert "vm passata: servvirt1" in lines and "vm masterauth: servvirt2" in lines
    failed = next(line for line in lines if line.startswith("failed actions: "))
    assert failed == ("failed actions: vm-speedauth_start_0 on servvirt2 (Error occurred); "
                      "vm-speedauth_start_0 on servvirt1 (Error occurred)")


def test_a_failed_start_says_when_the_cluster_tries_again_by_itself():
    """With a failure-timeout among the resource defaults (the pacemaker
    role's 10min, captured in the VM lab), the cluster forgets the failures
    and starts the VM again: the line says so, and how to try at once. A
    resource's own failure-timeout wins; 0 keeps the failures for ever."""
    cluster = _cluster("crm_mon-vm-failed-start-pacemaker3.xml", "resources-healthy-pacemaker3.xml")
    cluster["resource_defaults"] = parse_resource_defaults((STATUS / "rsc_defaults-pacemaker3.xml").read_text())
    assert cluster["resource_defaults"]["failure-timeout"] == "10min"
    running = _hostvars(running={"servvirt1": ["passata"], "servvirt2": ["masterauth"]})
    line = next(line for line in _report(cluster, running) if line.startswith("vm speedauth: "))
    assert line.endswith("Failed to start virtual domain speedauth; the cluster tries again 10min after each failure "
                         "(failure-timeout); to try at once, fix the cause, then crm_resource --cleanup --resource "
                         "vm-speedauth: docs/runbooks/vm-failed.md)"), line
    cluster["resources"]["vm-speedauth"]["meta"]["failure-timeout"] = "0"
    line = next(line for line in _report(cluster, running) if line.startswith("vm speedauth: "))
    assert "tries again" not in line and "; fix the cause, then crm_resource --cleanup" in line, line


def test_a_failed_start_of_a_vm_that_runs_elsewhere_is_only_a_failed_action():
    cluster = _cluster("crm_mon-vm-failed-start-pacemaker3.xml", "resources-healthy-pacemaker3.xml")
    lines = _report(cluster, _hostvars(running={"servvirt1": ["passata", "speedauth"], "servvirt2": ["masterauth"]}))
    assert "vm speedauth: servvirt1" in lines, lines


def test_the_cluster_is_read_from_the_first_node_ansible_reached():
    hostvars = _hostvars()
    assert status_reader(NODES, hostvars) == "servdb"
    # The storage node dead: what Ansible registered for it (ignore_unreachable).
    hostvars["servdb"]["__status_chrony"] = {"unreachable": True, "changed": False,
                                             "msg": "Failed to connect to the host via ssh: No route to host"}
    assert status_reader(NODES, hostvars) == "servvirt1"
    hostvars["servvirt1"]["__status_chrony"] = dict(hostvars["servdb"]["__status_chrony"])
    assert status_reader(NODES, hostvars, "__status_chrony") == "servvirt2"
    # None reached, or the task never ran: the first, whose read fails as any would.
    hostvars["servvirt2"]["__status_chrony"] = dict(hostvars["servdb"]["__status_chrony"])
    assert status_reader(NODES, hostvars) == "servdb"
    assert status_reader(NODES, {}) == "servdb"


@pytest.mark.parametrize("hosts", ["servdb", None, []])
def test_the_reader_needs_a_list_of_nodes(hosts):
    with pytest.raises(AnsibleFilterError, match="status_reader"):
        status_reader(hosts, _hostvars())


def test_a_node_ansible_reaches_but_the_cluster_does_not_count_names_its_runbook():
    """servvirt2's corosync with another key (it cannot join): Ansible
    reaches it, the cluster counts it offline."""
    cluster = _cluster("crm_mon-healthy-pacemaker3.xml", "resources-healthy-pacemaker3.xml")
    cluster["nodes"]["servvirt2"] = dict(cluster["nodes"]["servvirt2"], online=False)
    lines = _report(cluster)
    line = next(line for line in lines if line.startswith("servvirt2: "))
    assert line.startswith("servvirt2: NOT IN THE CLUSTER (Ansible reaches it, the cluster does not count it online: "
                           "docs/runbooks/node-not-rejoining.md), clock "), line
    assert not any(line.startswith(("servdb: NOT", "servvirt1: NOT")) for line in lines), lines
    # A node the cluster never heard of is outside it too.
    del cluster["nodes"]["servdb"]
    assert next(line for line in _report(cluster) if line.startswith("servdb: ")).startswith("servdb: NOT IN THE CLUSTER")
    # Unreachable says more than this; a cluster that did not answer says nothing of its members.
    hostvars = _hostvars()
    hostvars["servvirt2"] = {"__status_chrony": {"unreachable": True, "msg": "No route to host"}}
    assert "servvirt2: UNREACHABLE (No route to host)" in _report(cluster, hostvars=hostvars)
    silent = _report({"available": False, "error": "crm_mon answered rc 102"})
    assert not any("NOT IN THE CLUSTER" in line for line in silent), silent


def test_the_cluster_is_read_where_a_partition_has_quorum():
    """crm_node --quorum as status.yml registers it: 1 or 0, or a nonzero
    exit where pacemaker does not run (only the exit status is read)."""
    hostvars = _hostvars()
    stopped = {"rc": 1, "stdout": "", "stderr": "crm_node: connection to the cluster failed"}
    hostvars["servdb"]["__status_quorate"] = stopped
    hostvars["servvirt1"]["__status_quorate"] = {"rc": 0, "stdout": "0\n"}  # alone, with another key
    hostvars["servvirt2"]["__status_quorate"] = {"rc": 0, "stdout": "1\n"}
    assert status_reader(NODES, hostvars, "__status_chrony", "__status_quorate") == "servvirt2"
    # No partition has quorum: the first whose pacemaker answered.
    hostvars["servvirt2"]["__status_quorate"] = {"rc": 0, "stdout": "0\n"}
    assert status_reader(NODES, hostvars, "__status_chrony", "__status_quorate") == "servvirt1"
    # No pacemaker answered: the first node reached, as without quorum.
    hostvars["servvirt1"]["__status_quorate"] = hostvars["servvirt2"]["__status_quorate"] = stopped
    assert status_reader(NODES, hostvars, "__status_chrony", "__status_quorate") == "servdb"
    # An unreachable node's 1 (never seen: nothing is registered but the failure) is not taken.
    hostvars["servdb"]["__status_chrony"] = {"unreachable": True, "msg": "No route to host"}
    hostvars["servdb"]["__status_quorate"] = {"unreachable": True, "rc": 0, "stdout": "1"}
    assert status_reader(NODES, hostvars, "__status_chrony", "__status_quorate") == "servvirt1"


ON_STORAGE = [{"name": "passata", "memory_mb": 128, "disk": {"drbd": "passata"}},
              {"name": "speedauth", "memory_mb": 128, "disk": {"path": "/cluster/vms/speedauth.img"}},
              {"name": "masterauth", "memory_mb": 256, "disk": {"lun": 4}},
              {"name": "gone", "memory_mb": 64, "disk": {"lun": 5}, "state": "absent"}]


def _storage_lost_hostvars():
    """What status.yml registered in the VM lab with servdb's QEMU gone:
    servdb unreachable, each hypervisor's session FAILED."""
    hostvars = _hostvars()
    hostvars["servdb"] = {"__status_chrony": {"unreachable": True, "msg": "No route to host"}}
    for host in HYPERVISORS:
        hostvars[host]["__status_iscsi"] = {"rc": 0, "stdout": (ISCSIADM / "session-P1-failed.stdout").read_text()}
    return hostvars


def test_a_lost_storage_node_is_named_with_the_vms_whose_disks_it_serves():
    cluster = _cluster("crm_mon-healthy-pacemaker3.xml", "resources-healthy-pacemaker3.xml")
    cluster["nodes"]["servdb"] = dict(cluster["nodes"]["servdb"], online=False)
    lines = _report(cluster, hostvars=_storage_lost_hostvars(), vms=ON_STORAGE, storage=["servdb"],
                    storage_modes=["iscsi_ocfs2", "drbd"])
    down = ("STORAGE NODE DOWN (servdb serves the OCFS2 store and the disks of speedauth, masterauth: their I/O "
            "waits for it, as long as the hypervisors' iSCSI replacement_timeout; docs/runbooks/storage-node-lost.md)")
    assert "servdb: %s; UNREACHABLE (No route to host)" % down in lines, lines
    assert "vm passata: servvirt1" in lines, lines  # DRBD: its disk is on the hypervisors
    assert ("vm speedauth: servvirt1 (ITS DISK IS ON servdb: STORAGE NODE DOWN; docs/runbooks/storage-node-lost.md)"
            in lines), lines
    assert any(line.startswith("vm masterauth: servvirt2 (ITS DISK IS ON servdb") for line in lines), lines
    assert not any(line.startswith("vm gone:") and "ITS DISK" in line for line in lines), lines
    for host in HYPERVISORS:
        assert ", iSCSI sessions: 1 (1 FAILED), " in next(line for line in lines if line.startswith(host + ": "))
    # Reached by Ansible but out of the cluster: the same words, then the usual line.
    hostvars = _storage_lost_hostvars()
    hostvars["servdb"] = _hostvars()["servdb"]
    line = next(line for line in _report(cluster, hostvars=hostvars, vms=ON_STORAGE, storage=["servdb"])
                if line.startswith("servdb: "))
    assert line.startswith("servdb: %s; NOT IN THE CLUSTER (" % down), line
    # A cluster that did not answer: Ansible's reach decides.
    silent = {"available": False, "error": "crm_mon answered rc 102"}
    assert any(line.startswith("servdb: STORAGE NODE DOWN (")
               for line in _report(silent, hostvars=_storage_lost_hostvars(), vms=ON_STORAGE, storage=["servdb"]))
    assert not any("STORAGE NODE DOWN" in line
                   for line in _report(silent, hostvars=_hostvars(), vms=ON_STORAGE, storage=["servdb"]))


@pytest.mark.parametrize("modes, storage, reached", [
    (["drbd"], ["servdb"], False),  # no iSCSI target to lose
    (["iscsi_ocfs2"], [], False),  # no storage group
    (["iscsi_ocfs2"], ["servdb"], True),  # serving
    # Out of Ansible's reach (its sshd stopped: the container lab's
    # test_status.py) while the cluster counts it online: it serves.
    (["iscsi_ocfs2"], ["servdb"], False),
])
def test_no_storage_node_down_where_none_serves_or_it_serves(modes, storage, reached):
    cluster = _cluster("crm_mon-healthy-pacemaker3.xml", "resources-healthy-pacemaker3.xml")
    hostvars = _hostvars()
    if not reached:
        hostvars["servdb"] = {"__status_chrony": {"unreachable": True, "msg": "No route to host"}}
    lines = _report(cluster, hostvars=hostvars, vms=ON_STORAGE, storage=storage, storage_modes=modes)
    assert not any("STORAGE NODE DOWN" in line for line in lines), lines


def test_sessions_logged_in_are_counted_plainly():
    hostvars = _hostvars()
    for host in HYPERVISORS:
        hostvars[host]["__status_iscsi"] = {"rc": 0, "stdout": (ISCSIADM / "session-P1-logged-in.stdout").read_text()}
    line = next(line for line in _report(hostvars=hostvars) if line.startswith("servvirt1: "))
    assert ", iSCSI sessions: 1, OCFS2: " in line, line
    # No session: iscsiadm says so on stderr with rc 21, nothing on stdout.
    hostvars["servvirt1"]["__status_iscsi"] = {"rc": 21, "stdout": "", "stderr": "iscsiadm: No active sessions."}
    line = next(line for line in _report(hostvars=hostvars) if line.startswith("servvirt1: "))
    assert ", iSCSI sessions: 0, OCFS2: " in line, line
