# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decisions of replace.yml: whether a hypervisor may be rebuilt into the
cluster now (replace_problems), when its DRBD copies are whole again
(replace_drbd_pending), and which fencing constraints of DRBD's handler
are left over once they are (replace_stale_fence_constraints)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import xml.etree.ElementTree as ET

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.module_utils.drbd import (
    DrbdOutputError, describe, is_whole, proc_drbd_minors)

# The id prefix of the constraint DRBD's fence-peer handler places (the
# drbd role's handler, as drbd-utils' crm-fence-peer.sh): RES's clone may be
# promoted only where RES was UpToDate when its peer was lost.
FENCE_CONSTRAINT_PREFIX = "drbd-fence-by-handler-"


def minors_of(text, what):
    """{minor: state} from a /proc/drbd text; {} for no text (no module)."""
    try:
        return proc_drbd_minors(text)
    except DrbdOutputError as exc:
        raise AnsibleFilterError("%s: %s" % (what, exc)) from exc


def replace_problems(status, node, hypervisors, cluster_nodes, peer_proc_drbd=None, drbd_resources=()):
    """Why replace.yml must not rebuild ``node`` now (empty: it may).

    status: havirt.cluster.pacemaker_status read on a node that stays (its
    ``nodes``, ``quorum``). peer_proc_drbd: {hypervisor: text of its
    /proc/drbd} for the hypervisors that keep a copy of the node's DRBD
    resources (drbd_resources: each with ``name`` and ``minor``): each such
    copy must be UpToDate, since it is what the new node is synced from."""
    hypervisors = list(hypervisors or [])
    if node not in hypervisors:
        return ["%s is not one of the hypervisors (%s): replace.yml rebuilds a hypervisor. The storage node holds "
                "the only copy of the iSCSI LUNs: restore it from its backup (README, \"Backups\")"
                % (node, ", ".join(hypervisors) or "none in the inventory")]
    status = status or {}
    if not status.get("available"):
        return ["the cluster manager does not answer on the nodes that stay (%s): replace.yml rebuilds a node into a "
                "running cluster" % (status.get("error") or "no answer")]
    problems = []
    if not status.get("quorum"):
        problems.append("the cluster has no quorum (docs/runbooks/quorum-lost.md)")
    nodes = status.get("nodes") or {}
    about = nodes.get(node)
    if about is None:
        problems.append("the cluster knows no node %s (crm_mon lists %s): replace.yml rebuilds a node that was a "
                        "member; a new node is added by site.yml" % (node, ", ".join(sorted(nodes)) or "none"))
    elif about.get("unclean"):
        problems.append(
            "%s is unclean: the cluster could not fence it, and holds its VMs until it can. Make sure it is powered "
            "off, then tell the cluster so on a node that stays: stonith_admin --confirm %s" % (node, node))
    elif about.get("online") and not about.get("standby"):
        problems.append(
            "%s is online in the cluster and not in standby: replace.yml is for a hypervisor reinstalled from "
            "nothing, whose cluster stack has not started yet. To apply the configuration to a running node, run "
            "site.yml; to take it out of service first, maintenance.yml -e node=%s" % (node, node))
    for other in cluster_nodes or []:
        if other == node:
            continue
        state = nodes.get(other)
        if state is None or not state.get("online"):
            problems.append("%s, which stays, is not online in the cluster" % other)
            continue
        for flag, what in (("standby", "in standby"), ("maintenance", "in maintenance"), ("unclean", "unclean")):
            if state.get(flag):
                problems.append("%s, which stays, is %s (the VMs need it)" % (other, what))
    for peer, text in sorted((peer_proc_drbd or {}).items()):
        if peer == node:
            continue
        minors = minors_of(text, "replace_problems: /proc/drbd of %s" % peer)
        for res in drbd_resources or []:
            state = minors.get(int(res["minor"]), {})
            if not state:
                problems.append("DRBD %s is not up on %s: the new node would have no copy to sync from" % (res["name"], peer))
            elif state.get("disk") != "UpToDate":
                problems.append(
                    "DRBD %s on %s is %s: its copy there is not UpToDate, and the new node would sync from it. "
                    "Bring it UpToDate first (docs/runbooks/drbd-split-brain.md)" % (res["name"], peer, describe(state)))
    return problems


def replace_drbd_pending(proc_drbd, drbd_resources=()):
    """The node's DRBD resources not yet Connected and UpToDate on both
    sides, one line each ("passata: SyncTarget Secondary/Primary
    Inconsistent/UpToDate (43.2% synced), about 120 s left"); empty when
    all are whole."""
    minors = minors_of(proc_drbd, "replace_drbd_pending")
    pending = []
    for res in drbd_resources or []:
        state = minors.get(int(res["minor"]), {})
        if is_whole(state):
            continue
        line = "%s: %s" % (res["name"], describe(state))
        if "sync_finish_s" in state:
            line += ", about %d s left" % state["sync_finish_s"]
        pending.append(line)
    return pending


def replace_stale_fence_constraints(constraints_xml, proc_drbd, drbd_resources=()):
    """The ids of DRBD's fencing constraints (drbd-fence-by-handler-RES-*)
    left in the CIB for resources that are Connected and UpToDate on both
    sides of the node (from the text of its /proc/drbd): crm-unfence-peer
    lifts them after a resync, but a resync that ends before the node's
    cluster manager runs (a rebuilt node: DRBD comes up in site.yml before
    pacemaker) leaves them, and then the node's copy can never be promoted.
    A constraint of a resource that is not whole is kept: it is what keeps
    a stale copy from being promoted."""
    if not (constraints_xml or "").strip():
        return []
    try:
        root = ET.fromstring(constraints_xml)
    except ET.ParseError as exc:
        raise AnsibleFilterError("replace_stale_fence_constraints: the CIB's constraints are not XML: %s" % exc) from exc
    minors = minors_of(proc_drbd, "replace_stale_fence_constraints")
    whole = [res["name"] for res in drbd_resources or [] if is_whole(minors.get(int(res["minor"]), {}))]
    stale = []
    for location in root.iter("rsc_location"):
        ident = location.get("id") or ""
        for name in whole:
            # The handler's id: the prefix, the resource, the clone it constrains.
            if ident == "%s%s-%s" % (FENCE_CONSTRAINT_PREFIX, name, location.get("rsc")) and ident not in stale:
                stale.append(ident)
    return stale


class FilterModule:
    """havirt.cluster filters for replace.yml."""

    def filters(self):
        return {"replace_problems": replace_problems, "replace_drbd_pending": replace_drbd_pending,
                "replace_stale_fence_constraints": replace_stale_fence_constraints}
