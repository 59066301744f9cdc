# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""upgrade.yml's decisions: which nodes, in which order, and whether a node
that was upgraded came back whole (in the cluster, running what it ran,
its DRBD resources connected and in sync)."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.module_utils.drbd import (
    DrbdOutputError, describe, is_whole, parse_proc_drbd)

PACKAGES = ("full", "safe", "security")
# dpkg's lines in apt-get's output: "Unpacking libzstd1:amd64 (NEW) over (OLD) ..."
# for an upgrade, without "over" for a package newly installed.
_UNPACKING = re.compile(r"^Unpacking (\S+) \(([^)]+)\)(?: over \(([^)]+)\))? \.\.\.", re.M)
REBOOT = ("auto", "always", "never")
# apt-get --simulate's lines: "Inst NAME [INSTALLED] (CANDIDATE ORIGIN:VERSION/SUITE[, ...] [ARCH])", without
# [INSTALLED] for a package it would add.
_INST = re.compile(r"^Inst (\S+) (?:\[([^\]]+)\] )?\((\S+) ([^)]*?)(?: \[[^\]]*\])?\)", re.M)


def upgrade_plan(cluster, hypervisors, storage, modes, only="", storage_confirmed=False, packages="full",
                 reboot="auto"):
    """The nodes to upgrade, one at a time: the hypervisors first (each
    emptied by live migration, so no VM stops), then the other nodes.
    A storage node that serves the VMs' disks over iSCSI (mode iscsi_ocfs2)
    pauses every VM's disk I/O while it restarts: it is upgraded only when
    the user confirmed it, and otherwise skipped with the reason.

    Returns {"order": [...], "skipped": ["node: why", ...], "problems": [...]}."""
    problems = []
    if packages not in PACKAGES:
        problems.append("upgrade_packages is %r; it must be one of %s." % (packages, ", ".join(PACKAGES)))
    if reboot not in REBOOT:
        problems.append("upgrade_reboot is %r; it must be one of %s." % (reboot, ", ".join(REBOOT)))
    wanted = [n.strip() for n in (only or "").split(",") if n.strip()] if isinstance(only, str) else list(only)
    unknown = [n for n in wanted if n not in cluster]
    if unknown:
        problems.append("%s %s not a node of the cluster (%s)." % (
            ", ".join(unknown), "is" if len(unknown) == 1 else "are", ", ".join(cluster)))
    chosen = [n for n in cluster if not wanted or n in wanted]
    order = [n for n in chosen if n in hypervisors] + [n for n in chosen if n not in hypervisors]
    skipped = []
    if "iscsi_ocfs2" in (modes or ()) and not storage_confirmed:
        for node in [n for n in order if n in storage]:
            skipped.append(
                "%s: it serves the VMs' disks (iSCSI): while it restarts every VM's disk I/O pauses. "
                "Upgrade it at a quiet hour with -e upgrade_storage=true." % node)
            order.remove(node)
    if not order and not problems:
        problems.append("No node to upgrade: %s" % " ".join(skipped) if skipped else "No node to upgrade.")
    return dict(order=order, skipped=skipped, problems=problems)


def apt_upgraded(stdout):
    """What an apt-get upgrade installed, from its output: "name old -> new"
    for an upgrade, "name new (new)" for a package it added. dpkg's progress
    ends its lines with carriage returns: they count as line ends."""
    return ["%s %s -> %s" % (name.split(":")[0], old, new) if old else "%s %s (new)" % (name.split(":")[0], new)
            for name, new, old in _UNPACKING.findall((stdout or "").replace("\r", "\n"))]


def apt_security_upgrades(stdout):
    """The installed packages that apt would upgrade to a version from a
    security archive (a suite ending in -security: bookworm-security,
    trixie-security), from the output of apt-get --simulate dist-upgrade.
    A version found in the security archive and in a point release is a
    security update too (what unattended-upgrades installs by default).
    Packages apt would add are left out: upgrading a package pulls what it
    needs (a new kernel ABI with linux-image-amd64)."""
    names = []
    for name, installed, _candidate, origins in _INST.findall(stdout or ""):
        suites = [origin.rsplit("/", 1)[-1].strip() for origin in origins.split(",")]
        if installed and any(suite.endswith("-security") for suite in suites) and name not in names:
            names.append(name)
    return names


def _held_on(status, node, also=()):
    """The clones (and promotable clones) with an instance active on node,
    and those of the resources `also` (the storage node's target) active
    there."""
    resources = status.get("resources") or {}
    wanted = set(r.get("parent") for r in resources.values() if r.get("parent")) | set(also or ())
    return sorted(rid for rid in wanted if node in (resources.get(rid) or {}).get("nodes", []))


def upgrade_held_on(status, node, also=()):
    return _held_on(status or {}, node, also)


def upgrade_node_problems(status, node, held_before=(), proc_drbd=None, drbd_resources=()):
    """Why node is not back whole after its upgrade (empty: it is).

    status: havirt.cluster.pacemaker_status read on node, after its standby
    was lifted. held_before: the clones (and the storage target) active on
    node before the upgrade (upgrade_held_on): each must be again. proc_drbd: the text of node's /proc/drbd (None when
    node runs no DRBD resource)."""
    status = status or {}
    if not status.get("available"):
        return ["the cluster manager does not answer on %s: %s" % (node, status.get("error") or "no answer")]
    problems = []
    if not status.get("quorum"):
        problems.append("the cluster has no quorum")
    about = (status.get("nodes") or {}).get(node)
    if about is None:
        problems.append("%s is not a node of the cluster pacemaker runs" % node)
    else:
        if not about.get("online"):
            problems.append("%s is not online in the cluster" % node)
        for flag, what in (("standby", "in standby"), ("maintenance", "in maintenance"), ("unclean", "unclean")):
            if about.get(flag):
                problems.append("%s is %s" % (node, what))
    for failure in status.get("failures") or []:
        if failure.get("node") == node:
            problems.append("%s failed on %s: %s" % (failure.get("op_key"), node,
                                                     failure.get("exitreason") or failure.get("exitstatus")))
    missing = sorted(set(held_before) - set(_held_on(status, node, held_before)))
    if missing:
        problems.append("%s ran on %s before and not now: %s" % (
            "this resource" if len(missing) == 1 else "these resources", node, ", ".join(missing)))
    if drbd_resources and proc_drbd is not None:
        try:
            minors = parse_proc_drbd(proc_drbd)["minors"] if proc_drbd.strip() else None
        except DrbdOutputError as exc:
            raise AnsibleFilterError("upgrade_node_problems: %s" % exc) from exc
        for res in drbd_resources:
            state = (minors or {}).get(int(res["minor"]), {})
            if not is_whole(state):
                problems.append("DRBD %s on %s is %s, not Connected and UpToDate on both sides"
                                % (res["name"], node, describe(state) if minors is not None else "not loaded"))
    return problems


def upgrade_report(done, skipped=()):
    """upgrade.yml's last words: a line per node upgraded (packages, the
    restart and why, how long it was away, the VM moves), then the nodes
    skipped and why."""
    lines = []
    for turn in done:
        packages = turn.get("packages") or []
        if turn.get("restarted"):
            restart = "restarted (%s), out of service %s s" % (
                "; ".join(turn.get("reasons") or []) or "upgrade_reboot=always", turn.get("away_s"))
        elif turn.get("reasons"):
            restart = "not restarted, old code still runs (%s), out of service %s s" % (
                "; ".join(turn["reasons"]), turn.get("away_s"))
        else:
            restart = "no restart needed, out of service %s s" % turn.get("away_s")
        lines.append("%s: %d package(s) upgraded%s, %s, %d VM move(s)" % (
            turn["node"], len(packages), (" (" + ", ".join(packages) + ")") if packages else "", restart,
            int(turn.get("moved") or 0)))
    lines.extend("Skipped: %s" % why for why in skipped)
    return lines


def upgrade_cluster_problems(status, nodes):
    """Why the cluster is not whole (empty: it is): each node's problems,
    each said once (no quorum is every node's)."""
    problems = []
    for node in nodes:
        for problem in upgrade_node_problems(status, node):
            if problem not in problems:
                problems.append(problem)
    return problems


class FilterModule:
    """havirt.cluster filters for upgrade.yml."""

    def filters(self):
        return {"upgrade_plan": upgrade_plan, "upgrade_node_problems": upgrade_node_problems,
                "upgrade_held_on": upgrade_held_on, "upgrade_cluster_problems": upgrade_cluster_problems,
                "apt_upgraded": apt_upgraded, "apt_security_upgrades": apt_security_upgrades,
                "upgrade_report": upgrade_report}
