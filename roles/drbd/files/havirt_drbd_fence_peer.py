# Installed by havirt.cluster.drbd. GNU General Public License v3.0+.
# Run as /usr/bin/python3 THIS_FILE (drbd.conf's fence-peer handler).
"""DRBD's fence-peer handler for a pacemaker cluster (havirt.cluster.drbd).

DRBD calls it (fencing resource-and-stonith or resource-only) when a node
that is or becomes Primary has lost its peer: I/O or the promotion waits
until it says the peer can no longer write. It says so by placing a
location constraint that forbids the DRBD resource's promotable clone to
be promoted anywhere but here, once pacemaker's node_state says the peer
is fenced (down, expected down) or reachable (its controller is a member:
the constraint demotes or blocks it); crm-unfence-peer.sh (drbd-utils)
lifts the constraint after the resync. Same constraint, same id and same
exit codes as drbd-utils' crm-fence-peer.sh, which it replaces.

Why replace it: up to drbd-utils 9.22 (Debian 12 and 13), crm-fence-peer
reads node_state's in_ccm and crmd as "true"/"online". Pacemaker 2.1.7
and later (Debian 13's 3.0) write epoch timestamps there, 0 when not, so
it sees a fenced peer neither as fenced nor a live one as reachable, and
always waits its whole --timeout (90 s) first. In the VM lab on Debian 13
(2026-12-02) that made the survivor's promote after a hard crash time out
(pacemaker's promote timeout is 90 s as well).

Usage (drbd.conf handlers section): fence-peer "/usr/bin/python3
/usr/local/lib/havirt/havirt_drbd_fence_peer.py --timeout 60". drbdadm exports DRBD_RESOURCE and DRBD_PEER (the peer's
`on` name, the cluster's node name). Logs to the journal (tag
havirt-drbd-fence-peer)."""

import argparse
import os
import subprocess
import sys
import syslog
import time
import xml.etree.ElementTree as ET

# DRBD's fence-peer exit codes (drbd.conf(5), "fence-peer"): 4 the peer's
# disk is outdated (here: it cannot be promoted), 5 the peer is down or
# unreachable, 7 the peer was fenced. Anything else is a failure: DRBD
# keeps I/O frozen, or refuses the promotion.
EXIT_FAILED = 1
EXIT_PEER_OUTDATED = 4
EXIT_PEER_UNREACHABLE = 5
EXIT_PEER_FENCED = 7

ID_PREFIX = "drbd-fence-by-handler"
CIB_READ_TIMEOUT_S = 10
POLL_S = 1


def joined(value):
    """node_state's in_ccm or crmd as a boolean, in either format: before
    pacemaker 2.1.7 "true"/"false" and "online"/"offline"; since then the
    epoch time the node joined, 0 when it has not. None when absent."""
    if value is None:
        return None
    value = value.strip().lower()
    if value.isdigit():
        return int(value) > 0
    return value in ("true", "online", "yes", "on")


def peer_state(node_state):
    """What pacemaker's status section says of the peer, from its
    node_state attributes (None when the CIB has no node_state for it):

    fenced: its controller gone and the node expected down: what pacemaker
    writes once it has fenced a node (or after a clean stop), and keeps
    while the node boots back into the membership until its controller
    joins (pacemaker's own unpack.c takes that node as cleanly down, not
    as one to fence);
    reachable: in the membership with its controller joined;
    pending: anything else (lost and not yet fenced, unknown)."""
    if not node_state:
        return "pending"
    in_ccm = joined(node_state.get("in_ccm"))
    crmd = joined(node_state.get("crmd"))
    if in_ccm and crmd and node_state.get("join") == "member":
        return "reachable"
    if crmd is not True and node_state.get("expected") == "down":
        return "fenced"
    return "pending"


def find_clone(cib, resource):
    """The id of the promotable clone (or old-style master) whose ocf:linbit:drbd
    primitive runs DRBD resource `resource`; None if pacemaker runs none."""
    for tag in ("clone", "master"):
        for clone in cib.iter(tag):
            for primitive in clone.iter("primitive"):
                if primitive.get("type") != "drbd":
                    continue
                for nvpair in primitive.iter("nvpair"):
                    if nvpair.get("name") == "drbd_resource" and nvpair.get("value") == resource:
                        return clone.get("id")
    return None


def node_state(cib, node):
    """The attributes of `node`'s node_state in the CIB's status section, or None."""
    for state in cib.iter("node_state"):
        if state.get("uname") == node:
            return dict(state.attrib)
    return None


def local_disks(dstate):
    """This node's disk state of each volume, from `drbdadm dstate RES`
    ("UpToDate/DUnknown", one line per volume)."""
    return [line.strip().split("/")[0] for line in dstate.splitlines() if line.strip()]


def constraint_id(resource, clone):
    return "%s-%s-%s" % (ID_PREFIX, resource, clone)


def constraint(resource, clone, me):
    """The constraint crm-fence-peer.sh places (and crm-unfence-peer.sh
    removes by its id): the clone may be promoted on `me` only."""
    prefix = "%s-%s" % (ID_PREFIX, resource)
    location = ET.Element("rsc_location", {"id": constraint_id(resource, clone), "rsc": clone})
    rule = ET.SubElement(location, "rule", {"id": "%s-rule-%s" % (prefix, clone), "role": "Promoted", "score": "-INFINITY"})
    ET.SubElement(rule, "expression", {"id": "%s-expr-%s" % (prefix, clone), "attribute": "#uname",
                                       "operation": "ne", "value": me})
    return ET.tostring(location, encoding="unicode")


def decide(peer, disks):
    """(place the constraint?, exit code, what to log) from the peer's state
    (reachable, fenced, or timeout: still pending when the wait ended) and
    this node's disks, with crm-fence-peer.sh's rules: a reachable peer is
    fenced off if this copy is at least Consistent; a fenced or lost peer
    only if this copy is UpToDate (else promoting it would lose writes)."""
    uptodate = bool(disks) and all(disk == "UpToDate" for disk in disks)
    consistent = bool(disks) and all(disk in ("UpToDate", "Consistent") for disk in disks)
    mine = "/".join(disks) or "unknown"
    if peer == "reachable" and consistent:
        return True, EXIT_PEER_OUTDATED, "peer is reachable, my disk is %s: placed the constraint" % mine
    if peer == "fenced" and uptodate:
        return True, EXIT_PEER_FENCED, "peer is fenced, my disk is %s: placed the constraint" % mine
    if peer == "timeout" and uptodate:
        return True, EXIT_PEER_UNREACHABLE, "peer is neither fenced nor reachable after the wait, my disk is %s: placed the constraint" % mine
    return False, EXIT_PEER_UNREACHABLE, "peer is %s, my disk is %s: did not place the constraint" % (peer, mine)


def log(message, priority=syslog.LOG_INFO):
    syslog.syslog(priority, message)
    print(message, file=sys.stderr)


def run(*command):
    return subprocess.run(command, capture_output=True, text=True, timeout=CIB_READ_TIMEOUT_S, check=False)


def read_cib():
    """The CIB as an element, or None when pacemaker does not answer."""
    try:
        result = run("cibadmin", "--query")
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    try:
        return ET.fromstring(result.stdout)
    except ET.ParseError:
        return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=int, default=60,
                        help="seconds to wait for the peer to be fenced or reachable (default 60)")
    args = parser.parse_args(argv)
    syslog.openlog("havirt-drbd-fence-peer", syslog.LOG_PID, syslog.LOG_DAEMON)
    resource = os.environ.get("DRBD_RESOURCE", "")
    peer = os.environ.get("DRBD_PEER", "")
    me = os.uname().nodename.split(".")[0]
    if not resource:
        log("DRBD_RESOURCE is not set: run by DRBD (drbdadm) only", syslog.LOG_ERR)
        return EXIT_FAILED
    deadline = time.monotonic() + args.timeout
    cib = read_cib()
    while cib is None and time.monotonic() < deadline:
        time.sleep(POLL_S)
        cib = read_cib()
    if cib is None:
        log("%s: pacemaker's CIB cannot be read (cibadmin --query): the peer stays unfenced" % resource, syslog.LOG_ERR)
        return EXIT_FAILED
    clone = find_clone(cib, resource)
    if clone is None:
        log("%s: no pacemaker clone runs this DRBD resource: nothing can fence its peer" % resource, syslog.LOG_ERR)
        return EXIT_FAILED
    state = peer_state(node_state(cib, peer)) if peer else "pending"
    while state == "pending" and time.monotonic() < deadline:
        time.sleep(POLL_S)
        cib = read_cib() or cib
        state = peer_state(node_state(cib, peer)) if peer else "pending"
    if state == "pending":
        state = "timeout"
    try:
        disks = local_disks(run("drbdadm", "dstate", resource).stdout)
    except (OSError, subprocess.TimeoutExpired):
        disks = []
    place, code, message = decide(state, disks)
    message = "%s (peer %s, clone %s): %s" % (resource, peer or "unknown", clone, message)
    if place:
        try:
            placed = run("cibadmin", "--modify", "--allow-create", "--scope", "constraints",
                         "--xml-text", constraint(resource, clone, me))
        except (OSError, subprocess.TimeoutExpired) as exc:
            placed = subprocess.CompletedProcess((), 1, "", str(exc))
        if placed.returncode != 0:
            log("%s: DATA INTEGRITY AT RISK: could not place constraint %s: %s"
                % (resource, constraint_id(resource, clone), placed.stderr.strip()), syslog.LOG_ERR)
            return EXIT_FAILED
        message += " '%s'" % constraint_id(resource, clone)
    log(message, syslog.LOG_INFO if place else syslog.LOG_WARNING)
    return code


if __name__ == "__main__":
    sys.exit(main())
