# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The decisions of a live migration (migrate.yml, evacuate.yml): which
hypervisor the VM leaves and which it goes to, what refuses the move,
what the cluster manager and DRBD must be told, how a move is settled
afterwards, and what is reported. Plain functions of what the hypervisors
and the cluster manager answered; the playbook only runs the steps. Each
filter is documented in the .yml file of its name beside this one."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter.vm_placement import avoided, room, unavailable


def _fail(message):
    raise AnsibleFilterError("vm_move: " + message)


def _spec(vms, vm):
    for entry in vms or []:
        if isinstance(entry, dict) and entry.get("name") == vm:
            return entry
    return None


def _hosts_where(looks, hypervisors, key):
    return [host for host in hypervisors if (looks.get(host) or {}).get(key)]


def _placement_problem(vm, hypervisors, sources, migrating, destination, timeout):
    if migrating:
        return ("A migration of %s is still under way on %s after %s s (virsh domjobinfo %s there): wait for it, or "
                "stop it with virsh domjobabort %s on the source, then run this again."
                % (vm, " and ".join(migrating), timeout, vm, vm))
    if not sources:
        return "%s is not running on any hypervisor (%s): start it first." % (vm, ", ".join(hypervisors))
    if len(sources) > 1:
        return ("%s runs on %s at once: stop the wrong copy by hand before anything else."
                % (vm, " and ".join(sources)))
    if not destination:
        return "There is no other hypervisor to move %s to." % vm
    return ""


def _cluster_problem(vm, cluster, resources):
    known = (cluster or {}).get("resources") or {}
    missing = [rid for rid in resources if rid not in known]
    if missing:
        return ("The cluster has no resource %s, which the inventory says it manages: run site.yml to create it "
                "(or set havirt_vms_cluster_managed: false if the cluster must not run these VMs)." % ", ".join(missing))
    reason = ((cluster or {}).get("unwatched") or {}).get(resources[0], "")
    if reason and not known[resources[0]].get("move"):
        return ("%s's resource %s is %s, set outside migrate.yml: the cluster does not watch it, and this play will "
                "not hand it back on its own. Give it back first (crm_resource --resource %s --meta "
                "--delete-parameter maintenance, or --set-parameter is-managed --parameter-value true), or move it "
                "by hand." % (vm, resources[0], reason, resources[0]))
    return ""


def _apart_problem(spec, vms, cluster, hypervisors, destination, prefix):
    """Why the cluster would move the VM (or the one it avoids) away from
    ``destination`` at once: a VM it keeps apart from runs there while
    another hypervisor could take one of them."""
    apart = avoided(spec, vms) + [other["name"] for other in vms if spec["name"] in avoided(other, vms)]
    resources = (cluster or {}).get("resources") or {}
    there = sorted(set(name for name in apart
                       if destination in (resources.get(prefix + name) or {}).get("nodes", [])))
    elsewhere = [host for host in hypervisors if host != destination and not unavailable(cluster, host)]
    if not there or not elsewhere:
        return ""
    return ("%s is kept apart from %s (avoid, in havirt_vms), which runs on %s: the cluster would move one of them "
            "away again at once. Move %s elsewhere first; to run them together while %s is being serviced, use "
            "maintenance.yml -e node=%s (its standby lets the cluster put them together)."
            % (spec["name"], " and ".join(there), destination, " and ".join(there), " and ".join(elsewhere),
               elsewhere[0]))


def _room_problem(spec, vms, cluster, destination, prefix):
    """Why the destination cannot hold the VM in the capacity it gives the
    cluster (placement-strategy): the cluster would stop the VM there."""
    fit = room(cluster, spec, vms, destination, prefix)
    if not fit["short"]:
        return ""
    return ("%s needs %d MiB and %d vCPUs; %s offers the cluster's VMs %d MiB and %d vCPUs, of which %d MiB and %d "
            "vCPUs are free: the cluster would stop it there. Move another VM off %s first, or raise its capacity "
            "(havirt_vm_capacity)." % (spec["name"], fit["need"]["hv_memory"], fit["need"]["cpu"], destination,
                                       fit["offered"]["hv_memory"], fit["offered"]["cpu"], fit["free"]["hv_memory"],
                                       fit["free"]["cpu"], destination))


def vm_move_plan(looks, vm, vms, hypervisors, to="", managed=True, timeout=0, vm_prefix="vm-", drbd_prefix="drbd-",
                 evacuating=False):
    if not isinstance(looks, dict):
        _fail("the hypervisors' answers must be a dict by host, got %r" % (looks,))
    looks = dict((host, look or {}) for host, look in looks.items())
    hypervisors = list(hypervisors or [])
    to = to or ""
    spec = _spec(vms, vm)
    disk = (spec or {}).get("disk")
    disk = disk if isinstance(disk, dict) else {}
    drbd = disk.get("drbd", "")
    resources = ["%s%s" % (vm_prefix, vm)] + (["%s%s-clone" % (drbd_prefix, drbd)] if drbd else [])
    plan = dict(vm=vm, spec=spec or {}, source="", destination="", moving=False, managed=bool(managed),
                resources=resources if managed else [], drbd=drbd, disk_path=disk.get("path", ""),
                interrupted=None, resuming=False, left="", problems=[])

    if spec is None:
        known = [entry.get("name") for entry in vms or [] if isinstance(entry, dict)]
        plan["problems"].append("'%s' is not one of the cluster's VMs: %s." % (vm, ", ".join(known) or "havirt_vms is empty"))
        return plan
    if spec.get("state") == "absent":
        plan["problems"].append("%s is marked state: absent in havirt_vms: site.yml stops it and removes it; it is not "
                                "moved. Remove the mark (or set state: present) to keep it." % vm)
        return plan
    if to and to not in hypervisors:
        plan["problems"].append("'%s' is not a hypervisor (VMs run only on %s)." % (to, ", ".join(hypervisors)))
        return plan

    sources = _hosts_where(looks, hypervisors, "here")
    migrating = _hosts_where(looks, hypervisors, "migrating")
    others = sorted((host for host in hypervisors if host not in sources),
                    key=lambda host: -int((looks.get(host) or {}).get("freemem") or 0))
    source = sources[0] if len(sources) == 1 else ""
    destination = to or (others[0] if others else "")
    problem = _placement_problem(vm, hypervisors, sources, migrating, destination, timeout)
    if problem:
        plan["problems"].append(problem)
        return plan
    plan.update(source=source, destination=destination, moving=source != destination)

    if managed:
        cluster = looks[source].get("cluster") or {}
        problem = _cluster_problem(vm, cluster, resources)
        if problem:
            plan["problems"].append(problem)
            return plan
        move = cluster["resources"][resources[0]].get("move")
        plan.update(interrupted=move, resuming=bool(move))
        if plan["moving"]:
            vms = [entry for entry in vms or [] if isinstance(entry, dict) and entry.get("name")]
            no_room = _room_problem(spec, vms, cluster, destination, vm_prefix)
            apart = "" if no_room else _apart_problem(spec, vms, cluster, hypervisors, destination, vm_prefix)
            if apart and evacuating and not move:
                # The standby that follows (maintenance.yml) lets the cluster move it, live, beside the other.
                plan.update(moving=False, left=apart)
            elif no_room or apart:
                plan["problems"].append(no_room or apart)
    return plan


def vm_move_hosts(plan):
    """The hypervisors a move touched, each once: an interrupted move's
    ends, then the source and the destination. migrate_settle.yml looks at
    each of them by name (never at the play's hosts, which lose a failed
    host: after a failed migration under any_errors_fatal the play had no
    host left, and the VM read as running nowhere)."""
    if not isinstance(plan, dict) or "source" not in plan:
        _fail("vm_move_hosts needs the plan vm_move_plan made, got %r" % (plan,))
    move = plan.get("interrupted") or {}
    hosts = []
    for host in (move.get("from"), move.get("to"), plan["source"], plan["destination"]):
        if host and host not in hosts:
            hosts.append(host)
    return hosts


def vm_move_settle(looks, plan):
    """After a move (done, failed or killed): where the VM runs now, the
    DRBD steps on each host (the copy the VM does not run on demoted first,
    then two primaries forbidden everywhere) and the node that hands the
    resources back to the cluster manager."""
    if not isinstance(plan, dict) or "source" not in plan:
        _fail("vm_move_settle needs the plan vm_move_plan made, got %r" % (plan,))
    runs_on = [host for host, look in sorted((looks or {}).items()) if (look or {}).get("here")]
    hosts = vm_move_hosts(plan)
    drbd = []
    if plan.get("drbd"):
        drbd = [dict(host=host, role="secondary") for host in hosts if host not in runs_on]
        drbd += [dict(host=host, role=None) for host in hosts if host in runs_on]
    return dict(runs_on=runs_on, drbd=drbd, hand_back_on=runs_on[0] if runs_on else plan["source"])


def vm_move_report(plan, result=None):
    """What a move did, for evacuate.yml's list and the play's last line:
    {vm, from, to, changed, stats, summary}."""
    if not isinstance(plan, dict) or "vm" not in plan:
        _fail("vm_move_report needs the plan vm_move_plan made, got %r" % (plan,))
    result = result if isinstance(result, dict) else {}
    changed = bool(result.get("changed"))
    stats = result.get("stats") or {}
    parts = []
    if plan.get("interrupted"):
        parts.append("an interrupted move %s -> %s settled (it ran on %s)"
                     % (plan["interrupted"].get("from"), plan["interrupted"].get("to"), plan["source"]))
    if plan.get("left"):
        parts.append("left on %s: %s" % (plan["source"], plan["left"]))
    elif changed and "stats" not in result:
        parts.append("would move %s -> %s (check mode: nothing moved)" % (plan["source"], plan["destination"]))
    elif changed and stats.get("total_ms") is None and stats.get("wall_ms") is not None:
        # libvirt's libxl driver (Xen) keeps no statistics of a finished
        # migration job: the module's own clock is all there is.
        parts.append("%s -> %s, total %s ms (the module's clock: the hypervisor's driver reports no downtime or "
                     "memory figures)" % (plan["source"], plan["destination"], stats["wall_ms"]))
    elif changed:
        parts.append("%s -> %s, total %s ms, downtime %s ms, %.1f MiB moved"
                     % (plan["source"], plan["destination"], stats.get("total_ms", "?"), stats.get("downtime_ms", "?"),
                        (stats.get("memory_transferred_bytes") or 0) / 1048576.0))
    else:
        parts.append("already on %s, nothing moved" % plan["destination"])
    return {"vm": plan["vm"], "from": plan["source"], "to": plan["destination"], "changed": changed, "stats": stats,
            "left": plan.get("left", ""), "summary": "%s: %s" % (plan["vm"], "; ".join(parts))}


class FilterModule:
    """havirt.cluster filters for live migrations."""

    def filters(self):
        return {"vm_move_plan": vm_move_plan, "vm_move_hosts": vm_move_hosts, "vm_move_settle": vm_move_settle,
                "vm_move_report": vm_move_report}
