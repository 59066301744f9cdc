# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain functions for the O2CB cluster configuration (/etc/ocfs2/cluster.conf).

No Ansible here: the module feeds these with what ``o2cb`` (ocfs2-tools)
prints and with the file itself; the unit tests feed them with output
captured from ocfs2-tools 1.8.7 on Debian 12.

What the real tool does, and these functions follow:

* The file holds ``cluster:``, ``node:`` and ``heartbeat:`` stanzas, each a
  line ``type:`` then tab-indented ``key = value`` lines and a blank line.
  o2cb rewrites the whole file on every change: every ``cluster:`` stanza
  first, then every node (cluster by cluster, each in its list order), then
  every heartbeat region. Comments are lost, and so are nodes whose cluster
  does not exist.
* ``o2cb list-cluster NAME`` prints the same stanzas in another order
  (heartbeats, nodes, then the cluster) with the keys in reverse order.
* A node cannot be edited: a changed node is removed and added again, and
  an added node goes to the end of its cluster's list.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import errno
import os
import re
import socket

DEFAULT_PORT = 7777
# OCFS2_CLUSTER_NAME_LEN; o2cb checks isalnum() on every character.
CLUSTER_NAME = re.compile(r"^[A-Za-z0-9]{1,16}$")
# O2NM_MAX_NODES is 255: numbers 0-254.
MAX_NODE_NUMBER = 254
# O2NM_MAX_NAME_LEN (the kernel's node name, the host name) is 64. o2cb
# itself accepts any name, even with spaces; the kernel does not.
NODE_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?$")

_UNKNOWN_CODE = re.compile(r"Unknown code ____ (\d+)")

_STANZA = re.compile(r"^([A-Za-z_]+):\s*$")
_ATTRIBUTE = re.compile(r"^\s+([A-Za-z_]+)\s*=\s*(.*?)\s*$")


class O2cbConfigError(ValueError):
    """The text is not an O2CB cluster configuration."""


def parse_stanzas(text):
    """Split cluster.conf text into ``(type, {key: value})`` pairs, in order.

    Blank lines and ``#`` comments are skipped. A line that is neither a
    stanza header nor an indented ``key = value`` raises O2cbConfigError
    (o2cb refuses such a file too).
    """
    stanzas = []
    for number, line in enumerate((text or "").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        header = _STANZA.match(line)
        if header:
            stanzas.append((header.group(1), {}))
            continue
        attribute = _ATTRIBUTE.match(line)
        if attribute and stanzas:
            stanzas[-1][1][attribute.group(1)] = attribute.group(2)
            continue
        raise O2cbConfigError("line %d is neither 'stanza:' nor an indented 'key = value': %r" % (number, line))
    return stanzas


def explain_error(stderr):
    """A hint for o2cb's "Unknown code ____ N" messages, or ''.

    o2cb prints a negative errno it has no text for as an unsigned byte:
    251 is -EIO (the file cannot be parsed), 254 is -ENOENT (a directory of
    the file is missing).
    """
    found = _UNKNOWN_CODE.search(stderr or "")
    if not found or not 0 < 256 - int(found.group(1)) < 256:
        return ""
    code = 256 - int(found.group(1))
    if code == errno.EIO and "while loading" in stderr:
        return ("the file is not valid O2CB configuration: 'cluster:', 'node:' or 'heartbeat:' lines, "
                "each followed by indented 'key = value' lines")
    return "code %d is -%s (%s)" % (int(found.group(1)), errno.errorcode.get(code, code), os.strerror(code))


def _int(value, what):
    try:
        return int(value, 10)
    except (TypeError, ValueError):
        raise O2cbConfigError("%s is not a number: %r" % (what, value))


def parse_config(text):
    """Return the clusters of cluster.conf text (or of ``o2cb list-cluster``).

    Each cluster is ``{name, heartbeat_mode, nodes, heartbeats}``, in file
    order; ``nodes`` holds ``{name, ip, port, number}`` in file order and
    ``heartbeats`` the region names. Nodes and regions of a cluster that has
    no ``cluster:`` stanza are dropped, as o2cb drops them.
    """
    clusters = []
    by_name = {}
    members = []
    for kind, attributes in parse_stanzas(text):
        if kind == "cluster":
            name = attributes.get("name", "")
            if not name:
                raise O2cbConfigError("a cluster: stanza has no name")
            if name in by_name:
                raise O2cbConfigError("cluster %r is defined twice" % name)
            by_name[name] = dict(name=name, heartbeat_mode=attributes.get("heartbeat_mode") or "local",
                                 nodes=[], heartbeats=[])
            clusters.append(by_name[name])
        elif kind in ("node", "heartbeat"):
            members.append((kind, attributes))
        # Other stanza types are not o2cb's; o2cb ignores them.
    for kind, attributes in members:
        cluster = by_name.get(attributes.get("cluster"))
        if cluster is None:
            continue
        if kind == "heartbeat":
            cluster["heartbeats"].append(attributes.get("region", ""))
            continue
        name = attributes.get("name", "")
        if not name:
            raise O2cbConfigError("a node: stanza of cluster %r has no name" % cluster["name"])
        cluster["nodes"].append(dict(
            name=name,
            ip=attributes.get("ip_address", ""),
            port=_int(attributes.get("ip_port"), "ip_port of node %r" % name),
            number=_int(attributes.get("number"), "number of node %r" % name),
        ))
    return clusters


def parse_list_clusters(text):
    """Cluster names printed by ``o2cb list-clusters``, one a line."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def find_cluster(clusters, name):
    """The cluster called ``name`` (case-sensitive, as o2cb), or None."""
    for cluster in clusters:
        if cluster["name"] == name:
            return cluster
    return None


def cluster_summary(cluster):
    """What the module returns for a cluster: name, heartbeat mode, node count and nodes."""
    if cluster is None:
        return None
    return dict(name=cluster["name"], heartbeat_mode=cluster["heartbeat_mode"],
                node_count=len(cluster["nodes"]), nodes=[dict(node) for node in cluster["nodes"]])


def valid_ipv4(address):
    """o2cb takes dotted-quad IPv4 addresses only (inet_pton AF_INET)."""
    try:
        socket.inet_pton(socket.AF_INET, address)
    except (OSError, TypeError, ValueError):
        return False
    return True


def cluster_name_problem(name):
    """Why o2cb would refuse ``name`` as a cluster name, or None."""
    if not isinstance(name, str) or not CLUSTER_NAME.match(name):
        return ("cluster_name %r is not valid for o2cb: 1 to 16 characters, letters and digits only "
                "(no '-', '_' or '.')" % (name,))
    return None


def node_problems(nodes):
    """Every problem of the wanted node list, as messages naming the nodes.

    Checks what o2cb checks (number 0-254 and unique, name unique, IPv4
    address) and what it lets through but the cluster cannot work with
    (port outside 1-65535, one address and port for two nodes, a name that
    cannot be a host name).
    """
    problems = []
    seen = {}
    for index, node in enumerate(nodes):
        name = node.get("name")
        label = "nodes[%d] (%s)" % (index, name)
        if not isinstance(name, str) or not NODE_NAME.match(name):
            problems.append("%s: name must be the node's host name (as printed by 'hostname'): letters, digits, "
                            "'.', '-' and '_', at most 64 characters" % label)
        if not valid_ipv4(node.get("ip")):
            problems.append("%s: ip %r is not an IPv4 address (o2cb takes IPv4 only)" % (label, node.get("ip")))
        number = node.get("number")
        if not isinstance(number, int) or not 0 <= number <= MAX_NODE_NUMBER:
            problems.append("%s: number %r is outside 0-%d" % (label, number, MAX_NODE_NUMBER))
        port = node.get("port")
        if not isinstance(port, int) or not 1 <= port <= 65535:
            problems.append("%s: port %r is outside 1-65535" % (label, port))
        for key, value in (("name", name), ("number", number), ("ip:port", "%s:%s" % (node.get("ip"), port))):
            first = seen.setdefault((key, value), label)
            if first != label:
                problems.append("%s: %s %s is already used by %s" % (label, key, value, first))
    return problems


def node_is_local(node_name, hostname):
    """True when o2cb would take ``node_name`` as this host (o2cb's node_is_local()).

    The node name must equal the host name, or its part before a dot,
    ignoring case.
    """
    if not node_name or not hostname or len(hostname) < len(node_name):
        return False
    return (hostname[:len(node_name)].lower() == node_name.lower()
            and (len(hostname) == len(node_name) or hostname[len(node_name)] == "."))


def _same(current, wanted):
    return (current["ip"] == wanted["ip"] and current["port"] == wanted["port"]
            and current["number"] == wanted["number"])


def add_node_args(cluster_name, node):
    """o2cb arguments that add ``node`` to ``cluster_name``."""
    return ["add-node", cluster_name, node["name"], "--ip", node["ip"],
            "--port", str(node["port"]), "--number", str(node["number"])]


def plan(current, cluster_name, nodes, state="present", heartbeat_mode=None):
    """What to run to get from ``current`` (a parsed cluster or None) to the wanted state.

    Returns a dict with ``steps`` (o2cb arguments, without the program and
    ``--config-file``, in the order to run them: every removal before any
    addition, so numbers and addresses can move between nodes), ``added``,
    ``removed`` and ``replaced`` (node names) and ``cluster`` (the cluster
    as it will be afterwards, or None).
    """
    result = dict(steps=[], added=[], removed=[], replaced=[], cluster=None)
    if state == "absent":
        if current is not None:
            result["steps"].append(["remove-cluster", cluster_name])
            result["removed"] = [node["name"] for node in current["nodes"]]
        return result

    if current is None:
        result["steps"].append(["add-cluster", cluster_name])
        current = dict(name=cluster_name, heartbeat_mode="local", nodes=[], heartbeats=[])
    wanted = dict((node["name"], node) for node in nodes)
    have = dict((node["name"], node) for node in current["nodes"])

    kept = []
    for node in current["nodes"]:
        if node["name"] not in wanted:
            result["removed"].append(node["name"])
        elif not _same(node, wanted[node["name"]]):
            result["replaced"].append(node["name"])
        else:
            kept.append(dict(node))
            continue
        result["steps"].append(["remove-node", cluster_name, node["name"]])

    added = []
    for node in nodes:
        if node["name"] not in have:
            result["added"].append(node["name"])
        elif node["name"] not in result["replaced"]:
            continue
        result["steps"].append(add_node_args(cluster_name, node))
        added.append(dict(name=node["name"], ip=node["ip"], port=node["port"], number=node["number"]))

    mode = current["heartbeat_mode"]
    if heartbeat_mode and heartbeat_mode != mode:
        result["steps"].append(["heartbeat-mode", cluster_name, heartbeat_mode])
        mode = heartbeat_mode

    result["cluster"] = dict(name=cluster_name, heartbeat_mode=mode, nodes=kept + added,
                             heartbeats=list(current["heartbeats"]))
    return result


def replace_cluster(clusters, name, cluster):
    """The cluster list with ``name`` replaced by ``cluster`` (removed when None, appended when new)."""
    result = []
    found = False
    for item in clusters:
        if item["name"] == name:
            found = True
            if cluster is not None:
                result.append(cluster)
        else:
            result.append(item)
    if not found and cluster is not None:
        result.append(cluster)
    return result


def render_config(clusters):
    """cluster.conf text exactly as o2cb writes it for ``clusters``."""
    blocks = []
    for cluster in clusters:
        blocks.append("cluster:\n\tname = %s\n\theartbeat_mode = %s\n\tnode_count = %d\n"
                      % (cluster["name"], cluster["heartbeat_mode"], len(cluster["nodes"])))
    for cluster in clusters:
        for node in cluster["nodes"]:
            blocks.append("node:\n\tcluster = %s\n\tnumber = %d\n\tip_port = %d\n\tip_address = %s\n\tname = %s\n"
                          % (cluster["name"], node["number"], node["port"], node["ip"], node["name"]))
    for cluster in clusters:
        for region in cluster["heartbeats"]:
            blocks.append("heartbeat:\n\tcluster = %s\n\tregion = %s\n" % (cluster["name"], region))
    return "".join(block + "\n" for block in blocks)
