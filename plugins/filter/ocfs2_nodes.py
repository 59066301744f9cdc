# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The O2CB cluster's nodes from the inventory, what is wrong with the
ocfs2 role's settings, checked in Python with the rules the o2cb module
applies (module_utils/o2cb.py), before any host is touched, and which of
the timeouts a running O2CB cluster would have to change. Each filter is
documented in the .yml file of its name beside this one."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.module_utils.o2cb import cluster_name_problem, node_problems

SYSTEM_DIRECTORIES = ("/", "/boot", "/etc", "/usr", "/var", "/home", "/root")


def _number(value, default):
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        return value


def ocfs2_nodes(hostnames, hostvars, port=7777, address_variable="havirt_cluster_address"):
    """[{name, ip, number, port}] for o2cb: each host's cluster address, its
    ocfs2_node_number or else its place in the group (the same on every
    node)."""
    if not isinstance(hostnames, (list, tuple)):
        raise AnsibleFilterError("ocfs2_nodes: the group's host names must be a list, got %r" % (hostnames,))
    nodes = []
    for index, name in enumerate(hostnames):
        values = hostvars[name] if name in hostvars else {}
        nodes.append(dict(name=name, ip=values.get(address_variable, ""),
                          number=_number(values.get("ocfs2_node_number"), index), port=_number(port, port)))
    return nodes


def ocfs2_problems(hostnames, hostvars, cluster_name, node_slots, mount_point, device, label="",
                   port=7777, group="hypervisors", address_variable="havirt_cluster_address"):
    """Every problem of the ocfs2 role's settings, one sentence each; empty
    when there is none."""
    problems = []
    name_problem = cluster_name_problem(cluster_name)
    if name_problem:
        problems.append("ocfs2_" + name_problem)
    nodes = ocfs2_nodes(hostnames or [], hostvars, port, address_variable)
    if not nodes:
        problems.append("the group '%s' (ocfs2_node_group) has no host" % group)
    problems += ["%s (%s, ocfs2_node_number, ocfs2_port)" % (problem, address_variable)
                 for problem in node_problems(nodes)]
    slots = _number(node_slots, node_slots)
    if not isinstance(slots, int) or isinstance(slots, bool) or slots < max(len(nodes), 1):
        problems.append("ocfs2_node_slots %r must be a number at least the number of nodes (%d): each node that "
                        "mounts the file system needs its own slot" % (node_slots, len(nodes)))
    point = str(mount_point or "")
    if not point.startswith("/") or (point.rstrip("/") or "/") in SYSTEM_DIRECTORIES:
        problems.append("ocfs2_mount_point %r must be an absolute path of its own, not a system directory (%s)"
                        % (mount_point, ", ".join(SYSTEM_DIRECTORIES)))
    if not str(device or "").startswith("/dev/") or str(device) == "/dev/":
        problems.append("ocfs2_device %r must be a device path under /dev (the iSCSI LUN's /dev/disk/by-path/...)"
                        % (device,))
    if len(str(label or "")) > 63:
        problems.append("ocfs2_label must be at most 63 characters (it has %d)" % len(str(label)))
    return problems


# The running cluster's timeouts, in the order the ocfs2 role reads them
# from configfs (/sys/kernel/config/cluster/NAME/...): (file, setting).
RUNNING_TIMEOUTS = (
    ("heartbeat/dead_threshold", "ocfs2_heartbeat_threshold"),
    ("idle_timeout_ms", "ocfs2_idle_timeout_ms"),
    ("keepalive_delay_ms", "ocfs2_keepalive_delay_ms"),
    ("reconnect_delay_ms", "ocfs2_reconnect_delay_ms"),
)


def ocfs2_timeout_files(cluster_name):
    """The configfs files of the running cluster's timeouts, in the order
    ocfs2_timeout_changes reads what `cat` prints of them."""
    return ["/sys/kernel/config/cluster/%s/%s" % (cluster_name, name) for name, unused_setting in RUNNING_TIMEOUTS]


def ocfs2_timeout_changes(running, wanted):
    """The timeouts the inventory would change on a running O2CB cluster:
    `running` is what `cat` printed of the RUNNING_TIMEOUTS files (one
    number a line; empty when the cluster is not online), `wanted` the
    role's settings by name. One "setting: running -> wanted" each."""
    lines = str(running or "").split()
    if not lines:
        return []
    if len(lines) != len(RUNNING_TIMEOUTS) or not all(line.isdigit() for line in lines):
        raise AnsibleFilterError("ocfs2_timeout_changes: expected %d numbers from configfs, got %r"
                                 % (len(RUNNING_TIMEOUTS), running))
    changes = []
    for (unused_file, setting), value in zip(RUNNING_TIMEOUTS, lines):
        target = _number(wanted.get(setting), None)
        if target is not None and target != int(value):
            changes.append("%s: %s -> %s" % (setting, value, target))
    return changes


def _registered_stdout(hostvars, host, name):
    try:
        return str(hostvars[host][name].get("stdout", "") or "")
    except (KeyError, TypeError, AttributeError):
        return ""


def ocfs2_timeout_refusals(hostnames, hostvars, wanted, mounts="__ocfs2_running_mounts",
                           timeouts="__ocfs2_running_timeouts"):
    """Why new O2CB timeouts cannot be applied now, one sentence a node:
    empty unless the file system is mounted on some node of `hostnames`
    (each one's registered `findmnt` output, `mounts`) and some node runs
    with other timeouts than `wanted` (its registered `cat` of configfs,
    `timeouts`). Hosts that did not run the tasks are left out."""
    if not any(_registered_stdout(hostvars, host, mounts).strip() for host in hostnames or []):
        return []
    refusals = []
    for host in hostnames or []:
        changes = ocfs2_timeout_changes(_registered_stdout(hostvars, host, timeouts), wanted)
        if changes:
            refusals.append("%s runs with %s" % (host, "; ".join(changes)))
    return refusals


class FilterModule:
    """havirt.cluster filters for the ocfs2 role."""

    def filters(self):
        return {"ocfs2_nodes": ocfs2_nodes, "ocfs2_problems": ocfs2_problems,
                "ocfs2_timeout_files": ocfs2_timeout_files, "ocfs2_timeout_changes": ocfs2_timeout_changes,
                "ocfs2_timeout_refusals": ocfs2_timeout_refusals}
