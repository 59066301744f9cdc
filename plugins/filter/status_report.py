# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""status.yml's screen: the lines it prints, from what its plays read on
the nodes (registered results in hostvars) and the cluster manager's view
(havirt.cluster.pacemaker_status). Every decision of the report (where a
VM runs, whether the cluster watches it, whether a survivor could hold the
VMs of a dead hypervisor) is here, with unit tests; the playbook only
reads."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter.chrony import chrony_clock_summary
from ansible_collections.havirt.cluster.plugins.filter.drbd_summary import drbd_summary
from ansible_collections.havirt.cluster.plugins.filter.pacemaker_xml import fence_history_summary
from ansible_collections.havirt.cluster.plugins.filter.vm_placement import needs, room, unavailable, used
from ansible_collections.havirt.cluster.plugins.module_utils import guest_agent as agent
from ansible_collections.havirt.cluster.plugins.module_utils.inventory_rules import as_int
from ansible_collections.havirt.cluster.plugins.module_utils.iscsiadm import parse_sessions
from ansible_collections.havirt.cluster.plugins.module_utils.pacemaker_status import (
    failed_start_times, failed_starts, failure_timeout)

DOCUMENTATION = r"""
name: status_report
short_description: status.yml's lines, from what it read on the nodes and the cluster manager's view
version_added: 0.1.0
author: havirt.cluster contributors (@havirt)
description:
  - "One line for the cluster (nodes online, quorum with the runbook to follow when it is lost, DC, standby and
    maintenance); one per VM of havirt_vms (where it
    runs, C(NOT RUNNING), C(TWICE!) when on two hypervisors, whether the cluster manager has its resource and
    watches it, and for a VM it keeps stopped for want of room, C(NO HYPERVISOR CAN HOLD IT) with what it needs and
    what each hypervisor has free of its capacity, and for one whose start failed, C(FAILED TO START) with each
    hypervisor's time and reason and, with a failure-timeout, when the cluster tries again, C(NO QUORUM) when the
    partition that answered has none); one per VirtualDomain resource the inventory does not know; one
    on the running VMs' guest agents (answering, NOT ANSWERING, NO CHANNEL), when status.yml asked them; the
    failed actions; the fencing history; one per node (C(STORAGE NODE DOWN) first on the storage node of an
    C(iscsi_ocfs2) cluster that the cluster counts offline (Ansible cannot reach it, when the cluster did not
    answer), with the VMs whose disks it serves, each of
    which has the same words on its own line; C(UNREACHABLE) when Ansible could not reach it; else
    C(NOT IN THE CLUSTER) when the cluster answered and does not count it online, its
    clock, and on a hypervisor its iSCSI sessions (those not logged in counted with their state), OCFS2 mount,
    running VMs, available memory and DRBD's resources with any split brain recorded); then for each hypervisor
    whether each other could take its running VMs' memory
    (memory N+1), C(NOWHERE TO GO) when that other is in standby, in maintenance or offline, C(UNKNOWN) when its
    free memory could not be read. Where the cluster
    weighs capacity (placement-strategy not default) the room is pacemaker's own count (the survivor's capacity
    less its VMs' utilization), capped by what the host has available less O(reserve_mb): C(NOT ENOUGH ROOM) when
    the cluster would keep VMs stopped, C(NOT ENOUGH MEMORY) when its capacity promises more than the host has."
  - The per-node results are read from C(hostvars), as status.yml registers them (C(__status_chrony),
    C(__status_running), C(__status_agents), C(__status_available), C(__status_iscsi), C(__status_mount),
    C(__status_drbd), C(__status_split_brain)); C(__status_iscsi) is C(iscsiadm -m session -P 1); a missing one reads as unknown or empty.
options:
  _input:
    description: The cluster manager's view, the result of M(havirt.cluster.pacemaker_status).
    type: dict
    required: true
  hostvars:
    description: C(hostvars).
    type: dict
    required: true
  nodes:
    description: The cluster's nodes (group C(cluster)).
    type: list
    elements: str
    required: true
  hypervisors:
    description: The hypervisors (group C(hypervisors)).
    type: list
    elements: str
    default: []
  vms:
    description: havirt_vms.
    type: list
    elements: dict
    default: []
  vm_prefix:
    description: havirt_vms_resource_prefix.
    type: str
    default: vm-
  cluster_managed:
    description: havirt_vms_cluster_managed.
    type: bool
    default: true
  drbd_resources:
    description: havirt_drbd_resources.
    type: list
    elements: dict
    default: []
  fencing:
    description: The registered result of C(stonith_admin --history '*' --verbose --output-as=xml).
    type: dict
    default: {}
  reserve_mb:
    description: Memory each hypervisor keeps for itself, in MiB (havirt_status_reserve_memory_mb).
    type: int
    default: 256
  storage:
    description: The storage nodes (group C(storage)); the first is the iSCSI target of mode C(iscsi_ocfs2).
    type: list
    elements: str
    default: []
  storage_modes:
    description: havirt_storage_modes.
    type: list
    elements: str
    default: [iscsi_ocfs2]
"""

EXAMPLES = r"""
- name: Cluster status
  ansible.builtin.debug:
    msg: >-
      {{ __status_cluster | havirt.cluster.status_report(hostvars, nodes=groups['cluster'],
         hypervisors=groups['hypervisors'], vms=havirt_vms, fencing=__status_fencing) }}
  run_once: true
"""

RETURN = r"""
_value:
  description: The report's lines.
  type: list
  elements: str
  sample:
    - "cluster: 3/3 nodes online (servdb, servvirt1, servvirt2), quorum: yes, DC: servdb"
    - "vm passata: servvirt1"
    - "if servvirt1 dies: servvirt2 must take 256 MiB and has 700 MiB to spare -> OK"
"""


def _result(hostvars, host, name):
    values = hostvars[host] if host in hostvars else {}
    result = values.get(name)
    return result if isinstance(result, Mapping) else {}


def _running(hostvars, hypervisors):
    """hypervisor: names of its running VMs (community.libvirt.virt list_vms), [] when unknown."""
    return {host: [name for name in _result(hostvars, host, "__status_running").get("list_vms") or [] if name]
            for host in hypervisors}


def _cluster_line(cluster, nodes):
    states = cluster.get("nodes") or {}
    online = [name for name, state in states.items() if state.get("online")]
    quorum = "yes" if cluster.get("quorum") else "NO"
    if online and not cluster.get("quorum"):
        # Pacemaker answered from a partition too small to act.
        quorum += (" (fewer than half the nodes see each other: this part of the cluster stops its VMs and starts "
                   "none; docs/runbooks/quorum-lost.md)")
    line = "cluster: %d/%d nodes online (%s), quorum: %s, DC: %s" % (
        len(online), len(nodes), ", ".join(online) or "none: is pacemaker running? %s" % (cluster.get("error") or ""),
        quorum, cluster.get("dc") or "none")
    for label, key in (("standby", "standby"), ("in maintenance", "maintenance")):
        names = [name for name, state in states.items() if state.get(key)]
        if names:
            line += ", %s: %s" % (label, ", ".join(names))
    if cluster.get("maintenance_mode"):
        line += ", THE WHOLE CLUSTER IS IN MAINTENANCE MODE"
    return line


def _weighs_capacity(cluster):
    """Whether pacemaker places VMs by capacity (placement-strategy other than default)."""
    return (cluster.get("placement_strategy") or "default") != "default"


def _no_room(cluster, spec, hypervisors, vms, prefix):
    """Why the cluster keeps a VM stopped for want of room ('' when some
    hypervisor could hold it, or the cluster weighs no capacity)."""
    if not _weighs_capacity(cluster) or not spec:
        return ""
    places = []
    taken = used(cluster, vms, prefix)
    for host in hypervisors:
        why = unavailable(cluster, host)
        if why:
            places.append("%s %s" % (host, why))
            continue
        fit = room(cluster, spec, vms, host, prefix, taken=taken)
        if not fit["short"]:
            return ""
        places.append("%s has %d MiB of %d free, %d vCPUs of %d" % (
            host, fit["free"]["hv_memory"], fit["offered"]["hv_memory"], fit["free"]["cpu"], fit["offered"]["cpu"]))
    need = needs(spec)
    return (" (NO HYPERVISOR CAN HOLD IT: it needs %d MiB and %d vCPUs; %s; placement-strategy %s)"
            % (need["hv_memory"], need["cpu"], "; ".join(places), cluster.get("placement_strategy")))


def _failed_starts(cluster, rid):
    """Why a VM the cluster should run does not: the hypervisors where its
    start failed (pacemaker tries no node twice until the failures are
    cleared or expire), when and with the agent's reason, and whether the
    cluster will try again by itself (failure-timeout); '' when none failed."""
    failed = failed_starts(cluster, rid)
    if not failed:
        return ""
    times = failed_start_times(cluster, rid)
    expires = failure_timeout(cluster, rid)
    retry = ("the cluster tries again %s after each failure (failure-timeout); to try at once, " % expires
             if expires else "")
    return (" (FAILED TO START on %s; %sfix the cause, then crm_resource --cleanup --resource %s: "
            "docs/runbooks/vm-failed.md)" % (
                "; ".join("%s%s: %s" % (node, " at " + times[node] if times.get(node) else "", reason)
                          for node, reason in failed), retry, rid))


def _vm_lines(cluster, running, hypervisors, vms, prefix, managed, storage_down="", served=()):
    lines = []
    resources = cluster.get("resources") or {}
    unwatched = cluster.get("unwatched") or {}
    specs = dict((vm.get("name"), vm) for vm in vms if isinstance(vm, Mapping) and vm.get("name"))
    names = [vm.get("name") for vm in vms if isinstance(vm, Mapping)]
    for vm in names:
        where = [host for host in hypervisors if vm in running.get(host, [])]
        rid = prefix + vm
        note = ""
        if (specs.get(vm) or {}).get("state") == "absent":
            note = (" (MARKED ABSENT: run site.yml to stop and remove it)" if where or rid in resources
                    else " (removed: state absent in havirt_vms; its disk is kept)")
        elif managed and cluster.get("available"):
            if rid not in resources:
                note = " (NOT IN THE CLUSTER: no resource %s; run site.yml)" % rid
            elif rid in unwatched:
                note = (" (NOT WATCHED BY THE CLUSTER: %s; re-run migrate.yml -e vm=%s to settle a move, or give it "
                        "back with crm_resource; docs/runbooks/vm-unwatched.md)" % (unwatched[rid], vm))
            elif not where and resources[rid].get("target_role", "") != "Stopped" and not cluster.get("quorum"):
                note = " (NO QUORUM: the cluster starts no VM until it has one; docs/runbooks/quorum-lost.md)"
            elif not where and resources[rid].get("target_role", "") != "Stopped":
                note = (_failed_starts(cluster, rid)
                        or _no_room(cluster, specs.get(vm), hypervisors, list(specs.values()), prefix))
        if vm in served:
            note += " (ITS DISK IS ON %s: STORAGE NODE DOWN; %s)" % (storage_down, STORAGE_RUNBOOK)
        lines.append("vm %s: %s%s%s" % (vm, " AND ".join(where) if where else "NOT RUNNING",
                                        " (TWICE!)" if len(where) > 1 else "", note))
    for resource in resources.values():
        rid = resource.get("id") or ""
        if (str(resource.get("agent") or "").endswith("VirtualDomain") and rid.startswith(prefix)
                and rid[len(prefix):] not in names and not resource.get("parent")):
            lines.append("vm %s: %s (UNKNOWN TO THE INVENTORY: resource %s is not in havirt_vms; left as it is)"
                         % (rid[len(prefix):], " AND ".join(resource.get("nodes") or []) or "NOT RUNNING", rid))
    return lines


AGENT_GROUPS = (
    (agent.ANSWERS, "answering"),
    (agent.NOT_ANSWERING, "NOT ANSWERING (qemu-guest-agent not running in the guest, or busy)"),
    (agent.NO_CHANNEL, "NO CHANNEL (started before the vms role gave it one: restart the VM)"),
    (agent.ERROR, "UNREADABLE (run havirt.cluster.guest_agent_info on its hypervisor)"),
)


def _agents_line(hostvars, hypervisors, names):
    """One line on the guest agents of the VMs that run (each hypervisor's
    havirt.cluster.guest_agent_info result); '' when none was asked."""
    seen = {}
    for host in hypervisors:
        for vm, verdict in sorted((_result(hostvars, host, "__status_agents").get("agents") or {}).items()):
            state = (verdict or {}).get("state") or agent.ERROR
            if vm in names and state != agent.NOT_RUNNING:
                seen[vm] = state if state in dict(AGENT_GROUPS) else agent.ERROR
    if not seen:
        return ""
    parts = []
    for state, label in AGENT_GROUPS:
        found = sorted(vm for vm, verdict in seen.items() if verdict == state)
        if found or state == agent.ANSWERS:
            parts.append("%s: %s" % (label, ", ".join(found) or "none"))
    return "guest agents: " + "; ".join(parts)


def _drbd(hostvars, host, resources):
    content = _result(hostvars, host, "__status_drbd").get("content") or ""
    try:
        text = base64.b64decode(content).decode("utf-8", "replace")
    except (binascii.Error, ValueError) as exc:
        raise AnsibleFilterError("status_report: %s's /proc/drbd is not base64 (%s)" % (host, exc)) from exc
    records = [os.path.basename(item.get("path", "")) for item in
               _result(hostvars, host, "__status_split_brain").get("files") or [] if isinstance(item, Mapping)]
    return "; ".join(drbd_summary(text, resources, records))


def _unreachable(hostvars, host):
    """Whether Ansible could not reach the host (status.yml's first task)."""
    return bool(_result(hostvars, host, "__status_chrony").get("unreachable"))


def _outside(cluster, host):
    """Whether the cluster answered and does not count ``host`` online: a
    node Ansible reaches that has not (re)joined."""
    states = cluster.get("nodes") or {}
    return bool(cluster.get("available", True) and states and not (states.get(host) or {}).get("online"))


STORAGE_RUNBOOK = "docs/runbooks/storage-node-lost.md"


def _storage_down(cluster, hostvars, storage, modes):
    """The iSCSI target of mode iscsi_ocfs2 (the first storage node) when it
    is gone: the cluster answered and does not count it online, or, when
    the cluster did not answer, Ansible does not reach it either; '' when
    it serves, or the cluster has no such mode. A node Ansible cannot reach
    (its sshd stopped) that the cluster counts online still serves."""
    target = next(iter(storage or []), "")
    if not target or "iscsi_ocfs2" not in (modes or ()):
        return ""
    if cluster.get("available", True) and cluster.get("nodes"):
        return target if _outside(cluster, target) else ""
    return target if _unreachable(hostvars, target) else ""


def _served(vms):
    """The VMs whose disk the storage node serves: a LUN, or a path (a file
    on the OCFS2 store, or a kernel session's disk)."""
    return [vm.get("name") for vm in vms if isinstance(vm, Mapping) and vm.get("state", "present") != "absent"
            and isinstance(vm.get("disk"), Mapping) and ("lun" in vm["disk"] or "path" in vm["disk"])]


def _storage_down_words(host, served):
    return ("STORAGE NODE DOWN (%s serves the OCFS2 store and the disks of %s: their I/O waits for it, as long as the "
            "hypervisors' iSCSI replacement_timeout; %s)" % (host, ", ".join(served) or "no VM", STORAGE_RUNBOOK))


def _sessions_summary(hostvars, host):
    """'N' iSCSI sessions, with those not logged in and their state
    (iscsiadm -m session -P 1: FAILED while the target does not answer)."""
    sessions = parse_sessions(_result(hostvars, host, "__status_iscsi").get("stdout") or "")
    down = [session.get("state") or "?" for session in sessions if session.get("state") != "LOGGED_IN"]
    if not down:
        return "%d" % len(sessions)
    return "%d (%d %s)" % (len(sessions), len(down), "/".join(sorted(set(down))))


def _node_line(cluster, hostvars, host, hypervisors, running, drbd_resources, storage_down="", served=()):
    prefix = _storage_down_words(host, served) + "; " if host == storage_down else ""
    if _unreachable(hostvars, host):
        return "%s: %sUNREACHABLE (%s)" % (host, prefix, str(_result(hostvars, host, "__status_chrony").get("msg") or "").strip())
    line = "%s: %s" % (host, prefix)
    if _outside(cluster, host):
        line += ("NOT IN THE CLUSTER (Ansible reaches it, the cluster does not count it online: "
                 "docs/runbooks/node-not-rejoining.md), ")
    line += "clock %s" % chrony_clock_summary(_result(hostvars, host, "__status_chrony"))
    if host not in hypervisors:
        return line
    mount = (_result(hostvars, host, "__status_mount").get("stdout") or "").strip()
    line += ", iSCSI sessions: %s, OCFS2: %s, VMs: %s, available %s MiB" % (
        _sessions_summary(hostvars, host), mount or "not mounted", " ".join(running.get(host, [])) or "none",
        _result(hostvars, host, "__status_available").get("stdout", "?"))
    if drbd_resources:
        line += ", DRBD: " + _drbd(hostvars, host, drbd_resources)
    return line


def _capacity_lines(cluster, hostvars, hypervisors, running, vms, reserve_mb, prefix):
    """One line per (dead, survivor) pair: the memory the survivor must take.
    Where the cluster weighs capacity (placement-strategy other than
    default, the pacemaker role's utilization), the room is what pacemaker
    itself counts: the survivor's capacity less what its VMs use, and
    never more than the host has available now less the reserve."""
    memory = {vm.get("name"): as_int(vm.get("memory_mb")) or 0 for vm in vms if isinstance(vm, Mapping)}
    capacity = cluster.get("capacity") or {}
    named = [vm for vm in vms if isinstance(vm, Mapping) and vm.get("name")]
    taken = used(cluster, named, prefix) if _weighs_capacity(cluster) else {}
    lines = []
    for dead in hypervisors:
        need = sum(memory[name] for name in running.get(dead, []) if name in memory)
        for survivor in hypervisors:
            if survivor == dead:
                continue
            why = unavailable(cluster, survivor)
            if why and need:
                lines.append("if %s dies: %s must take %d MiB but is %s -> NOWHERE TO GO" % (dead, survivor, need, why))
                continue
            available = as_int(_result(hostvars, survivor, "__status_available").get("stdout"))
            if available is None:
                lines.append("if %s dies: %s must take %d MiB; its free memory is unknown (%s) -> UNKNOWN"
                             % (dead, survivor, need, "unreachable" if _unreachable(hostvars, survivor)
                                else "status.yml could not read it"))
                continue
            available -= reserve_mb
            if not _weighs_capacity(cluster) or as_int((capacity.get(survivor) or {}).get("hv_memory")) is None:
                lines.append("if %s dies: %s must take %d MiB and has %d MiB to spare -> %s"
                             % (dead, survivor, need, available, "OK" if available >= need else "NOT ENOUGH MEMORY"))
                continue
            # pacemaker's own count, as for a VM of that size (vm_placement.room).
            fit = room(cluster, {"memory_mb": need}, named, survivor, prefix, taken=taken)
            free, offered = fit["free"]["hv_memory"], fit["offered"]["hv_memory"]
            if need > free:
                verdict = "NOT ENOUGH ROOM: the cluster keeps some of them stopped (priority decides which)"
            elif need > available:
                verdict = ("NOT ENOUGH MEMORY: the cluster would start them but the host has less free than its "
                           "capacity says (raise pacemaker_vm_host_reserve_mb or lower havirt_vm_capacity)")
            else:
                verdict = "OK"
            lines.append("if %s dies: %s must take %d MiB and has %d MiB to spare (%d of its %d MiB capacity free "
                         "in the cluster, %d available now less the reserve) -> %s"
                         % (dead, survivor, need, min(free, available), free, offered, available, verdict))
    return lines


def status_report(cluster, hostvars, nodes, hypervisors=(), vms=(), vm_prefix="vm-", cluster_managed=True,
                  drbd_resources=(), fencing=None, reserve_mb=256, storage=(), storage_modes=("iscsi_ocfs2",)):
    """status.yml's lines."""
    if not isinstance(cluster, Mapping):
        raise AnsibleFilterError("status_report: expected the result of havirt.cluster.pacemaker_status, got %r"
                                 % (cluster,))
    hypervisors, vms = list(hypervisors or []), list(vms or [])
    running = _running(hostvars, hypervisors)
    storage_down = _storage_down(cluster, hostvars, list(storage or []), list(storage_modes or []))
    served = _served(vms) if storage_down else []
    lines = [_cluster_line(cluster, list(nodes or []))]
    lines += _vm_lines(cluster, running, hypervisors, vms, vm_prefix or "", bool(cluster_managed), storage_down,
                       served)
    agents = _agents_line(hostvars, hypervisors, [vm.get("name") for vm in vms if isinstance(vm, Mapping)])
    lines += [agents] if agents else []
    failed = ["%s on %s (%s)" % (failure.get("op_key"), failure.get("node"), failure.get("exitstatus") or "?")
              for failure in cluster.get("failures") or []]
    lines.append("failed actions: " + ("; ".join(failed) or "none"))
    lines.append("fencing history: " + fence_history_summary(fencing or {}, 3))
    lines += [_node_line(cluster, hostvars, host, hypervisors, running, list(drbd_resources or []), storage_down,
                         served) for host in nodes or []]
    lines += _capacity_lines(cluster, hostvars, hypervisors, running, vms, as_int(reserve_mb) or 0, vm_prefix or "")
    return lines


def status_reader(hosts, hostvars, register="__status_chrony", quorum=None):
    """The first of ``hosts`` that answered the task that registered
    ``register`` (Ansible reached it), for status.yml's run-once reads: a
    dead first node must not hide what the others can say. With
    ``quorum`` (the register of ``crm_node --quorum`` on every node), the
    first reached node whose partition has quorum (it printed 1), else the
    first whose pacemaker answered at all: a node outside the cluster
    (its pacemaker stopped, or alone in a partition) must not hide the
    cluster's view either. The first host when none answered (its read
    then fails as the others would)."""
    if isinstance(hosts, (str, bytes)) or not isinstance(hosts, Sequence):
        raise AnsibleFilterError("status_reader expects a list of host names, got %r" % (hosts,))
    if not hosts:
        raise AnsibleFilterError("status_reader: no hosts to read from")

    def reached_for(host, name):
        """Ansible reached the host for the task that registered ``name``."""
        result = _result(hostvars, host, name)
        return bool(result) and not result.get("unreachable")

    reached = [host for host in hosts if reached_for(host, register)]
    if quorum:
        answered = [host for host in reached if reached_for(host, quorum) and _result(hostvars, host, quorum).get("rc") == 0]
        quorate = [host for host in answered if str(_result(hostvars, host, quorum).get("stdout", "")).strip() == "1"]
        reached = quorate + answered + reached
    return reached[0] if reached else hosts[0]


class FilterModule:
    """havirt.cluster filters for status.yml."""

    def filters(self):
        return {"status_report": status_report, "status_reader": status_reader}
