# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the cluster may run the VMs: which VMs keep apart (anti-affinity
constraints), what each hypervisor offers them (its capacity, for
pacemaker's placement strategy), and which capacity would make the cluster
stop VMs that run now. Plain functions of the inventory and of what the
cluster answered; the pacemaker role writes what they decide. Each filter
is documented in the .yml file of its name beside this one."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.module_utils.inventory_rules import as_int


def _vms(vms, who):
    if not isinstance(vms, (list, tuple)):
        raise AnsibleFilterError("%s: havirt_vms must be a list of VMs, got %r" % (who, vms))
    return [vm for vm in vms if isinstance(vm, Mapping) and vm.get("name")]


def avoided(vm, vms):
    """The names of the VMs ``vm`` (an entry of havirt_vms) avoids: those
    its ``avoid`` names, and those carrying a tag it names; never itself."""
    wanted = set(vm.get("avoid") or [])
    names = []
    for other in vms:
        if other.get("name") == vm.get("name"):
            continue
        if other["name"] in wanted or wanted.intersection(other.get("tags") or []):
            names.append(other["name"])
    return names


def vms_with_state(vms, state="present"):
    """The entries of ``vms`` (havirt_vms) whose ``state`` is ``state``
    (an entry without one is present), in their order."""
    if state not in ("present", "absent"):
        raise AnsibleFilterError("vms_with_state: the state is present or absent, got %r" % (state,))
    return [vm for vm in _vms(vms, "vms_with_state") if (vm.get("state") or "present") == state]


def vm_avoid_constraints(vms, prefix="vm-", score=1000):
    """One colocation per pair of VMs that avoid each other (either side
    saying so): {id, rsc, with_rsc, score}. The VM that names the other is
    the one the cluster moves (``rsc``, placed after ``with_rsc``); a pair
    named from both sides is written once, by the first in the list.
    ``score`` is how strongly (a positive number, written negative);
    ``avoid_strict`` on either VM makes it -INFINITY: never together, even
    if one of them must then stay stopped."""
    vms = _vms(vms, "vm_avoid_constraints")
    strength = as_int(score)
    if strength is None or strength <= 0:
        raise AnsibleFilterError("vm_avoid_constraints: the score must be a whole number above 0, got %r" % (score,))
    by_name = dict((vm["name"], vm) for vm in vms)
    pairs = {}
    for vm in vms:
        for other in avoided(vm, vms):
            key = frozenset((vm["name"], other))
            strict = bool(vm.get("avoid_strict")) or bool(by_name[other].get("avoid_strict"))
            if key in pairs:
                pairs[key]["strict"] = pairs[key]["strict"] or strict
                continue
            pairs[key] = {"rsc": vm["name"], "with": other, "strict": strict}
    return [{"id": "%s%s-avoids-%s%s" % (prefix, pair["rsc"], prefix, pair["with"]),
             "rsc": prefix + pair["rsc"], "with_rsc": prefix + pair["with"],
             "score": "-INFINITY" if pair["strict"] else str(-strength)}
            for pair in pairs.values()]


def vm_node_capacities(hypervisors, hostvars, reserve_mb=1024, cpu_ratio=4, current=None):
    """{hypervisor: {cpu, hv_memory, host_memory}}: what each offers the
    VMs. Memory: the host's (ansible_facts.memtotal_mb) less ``reserve_mb``
    for the host itself, or on Xen what Xen has for guests (the host's less
    dom0's share: ansible_facts.ansible_local.havirt_xen.guest_memory_mb);
    vCPUs: its logical CPUs times ``cpu_ratio``. A host's
    ``havirt_vm_capacity`` ({memory_mb, vcpus}) overrides either.
    A host without facts (left out by --limit) keeps what the cluster has
    for it (``current``: pacemaker_status's capacity); without that either,
    it fails: a node without capacity would run no VM."""
    reserve, ratio = as_int(reserve_mb), as_int(cpu_ratio)
    if reserve is None or reserve < 0 or ratio is None or ratio < 1:
        raise AnsibleFilterError("vm_node_capacities: the reserve must be 0 or more MiB and the vCPU ratio 1 or more, "
                                 "got %r and %r" % (reserve_mb, cpu_ratio))
    capacities = {}
    for host in hypervisors or []:
        values = hostvars[host] if host in hostvars else {}
        facts = values.get("ansible_facts") or {}
        given = values.get("havirt_vm_capacity") or {}
        memory = as_int(given.get("memory_mb"))
        # Local facts keep their prefix in ansible_facts (ansible_facts.ansible_local).
        xen = ((facts.get("ansible_local") or {}).get("havirt_xen") or {})
        if memory is None and xen.get("error"):
            raise AnsibleFilterError("vm_node_capacities: %s runs Xen, and the memory Xen has for guests could not be "
                                     "read from libvirt (%s): check libvirtd there (virsh -c xen:///system nodeinfo), "
                                     "or set its havirt_vm_capacity" % (host, xen["error"]))
        if memory is None:
            # A Xen dom0's own memory is not the guests': theirs is the
            # host's less dom0's fixed share, which is already the host's
            # reserve (the hypervisor role's local fact).
            memory = as_int(xen.get("guest_memory_mb"))
        if memory is None:
            total = as_int(facts.get("memtotal_mb"))
            kept = ((current or {}).get(host) or {})
            if total is None and [name for name in ("cpu", "hv_memory", "host_memory") if as_int(kept.get(name))]:
                capacities[host] = dict((name, as_int(kept.get(name)) or 0) for name in ("cpu", "hv_memory", "host_memory"))
                continue
            if total is None:
                raise AnsibleFilterError("vm_node_capacities: no memory facts for %s and no capacity in the cluster for "
                                         "it (gather its facts: leave it in --limit, or set its "
                                         "havirt_vm_capacity.memory_mb)" % host)
            memory = total - reserve
        cpus = as_int(given.get("vcpus"))
        if cpus is None:
            cpus = (as_int(facts.get("processor_vcpus")) or 1) * ratio
        if memory <= 0 or cpus <= 0:
            raise AnsibleFilterError("vm_node_capacities: %s would offer its VMs %s MiB and %s vCPUs: lower "
                                     "pacemaker_vm_host_reserve_mb or set its havirt_vm_capacity" % (host, memory, cpus))
        capacities[host] = {"cpu": cpus, "hv_memory": memory, "host_memory": memory}
    return capacities


def needs(vm):
    """What one VM needs of a hypervisor, by utilization attribute (the
    pacemaker role writes the same on its resource)."""
    memory = as_int(vm.get("memory_mb")) or 0
    return {"cpu": as_int(vm.get("vcpus")) or 1, "hv_memory": memory, "host_memory": memory}


def used(status, vms, prefix="vm-"):
    """{node: {attribute: total}} of the VMs the cluster runs on each node now."""
    resources = (status or {}).get("resources") or {}
    totals = {}
    for vm in vms:
        for node in (resources.get(prefix + vm["name"]) or {}).get("nodes") or []:
            for name, value in needs(vm).items():
                totals.setdefault(node, {}).setdefault(name, 0)
                totals[node][name] += value
    return totals


def unavailable(status, node):
    """Why the cluster would start nothing on ``node`` ('' when it would,
    or when the cluster did not answer)."""
    if not (status or {}).get("available", True):
        return ""
    state = ((status or {}).get("nodes") or {}).get(node) or {}
    if not state.get("online"):
        return "offline"
    return "in standby" if state.get("standby") else "in maintenance" if state.get("maintenance") else ""


def room(status, vm, vms, node, prefix="vm-", taken=None):
    """What ``node`` offers the cluster's VMs against what ``vm`` needs:
    {need, offered, free, short} by utilization attribute; ``short`` lists
    the attributes it lacks (empty: the VM fits, or the cluster weighs no
    capacity: placement-strategy default). ``taken``: used(status, vms,
    prefix), for a caller that asks about several nodes."""
    need = needs(vm)
    offered = dict((name, as_int((((status or {}).get("capacity") or {}).get(node) or {}).get(name)) or 0)
                   for name in need)
    on_node = (used(status, vms, prefix) if taken is None else taken).get(node, {})
    free = dict((name, offered[name] - on_node.get(name, 0)) for name in need)
    weighed = ((status or {}).get("placement_strategy") or "default") != "default"
    short = [name for name in need if weighed and need[name] > free[name]]
    return {"need": need, "offered": offered, "free": free, "short": short}


def vm_capacity_refusals(status, vms, capacities, prefix="vm-"):
    """One sentence per hypervisor whose new capacity could not hold the
    VMs the cluster runs on it now: pacemaker would stop some of them as
    soon as it read it. Empty when none (or when the cluster did not answer)."""
    vms = _vms(vms, "vm_capacity_refusals")
    if not isinstance(status, Mapping) or not status.get("available", True):
        return []
    running = used(status, vms, prefix)
    refusals = []
    for node in sorted(capacities or {}):
        over = ["%s: %d %s run there, %d offered" % (label, running[node][name], unit, capacities[node][name])
                for name, label, unit in (("hv_memory", "memory", "MiB"), ("cpu", "vCPUs", "vCPUs"))
                if name in capacities[node] and running.get(node, {}).get(name, 0) > capacities[node][name]]
        if over:
            here = sorted(vm["name"] for vm in vms
                          if node in ((status.get("resources") or {}).get(prefix + vm["name"]) or {}).get("nodes", []))
            refusals.append("%s runs %s, which need more than its new capacity offers (%s): the cluster would stop "
                            "VMs there. Move some first (migrate.yml), or raise its havirt_vm_capacity or lower "
                            "pacemaker_vm_host_reserve_mb" % (node, ", ".join(here), "; ".join(over)))
    return refusals


def vm_stale_avoid_constraints(constraints, wanted, prefix="vm-"):
    """The ids of the role's anti-affinity constraints (``PREFIXa-avoids-
    PREFIXb``) in ``cibadmin --query --scope constraints`` that ``wanted``
    (vm_avoid_constraints) no longer has: to delete."""
    text = (constraints or "").strip()
    if not text:
        return []
    try:
        root = ET.fromstring(text)
    except ET.ParseError as error:
        raise AnsibleFilterError("vm_stale_avoid_constraints: the constraints section is not XML: %s" % error)
    keep = set(item.get("id") for item in wanted or [] if isinstance(item, Mapping))
    return [element.get("id") for element in root.iter("rsc_colocation")
            if (element.get("id") or "").startswith(prefix) and "-avoids-" in element.get("id")
            and element.get("id") not in keep]


class FilterModule:
    """havirt.cluster filters for the VMs' placement."""

    def filters(self):
        return {"vms_with_state": vms_with_state, "vm_avoid_constraints": vm_avoid_constraints, "vm_node_capacities": vm_node_capacities,
                "vm_capacity_refusals": vm_capacity_refusals, "vm_stale_avoid_constraints": vm_stale_avoid_constraints}
