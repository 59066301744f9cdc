# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain functions that read what open-iscsi's iscsiadm prints.

No Ansible here: the module feeds these with command output and the unit
tests feed them with output captured from real initiators.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import ipaddress
import re
import socket

# iscsiadm's exit codes (open-iscsi include/iscsi_err.h) and what a
# sysadmin can do about the ones a cluster meets.
EXIT_CODES = {
    1: "generic error",
    2: "session not found",
    4: "transport error",
    5: "login failed",
    6: "error accessing the node database (/etc/iscsi/nodes)",
    7: "invalid argument",
    8: "connection timed out: is the portal address right, the target listening there, a firewall in the way?",
    11: "no answer from the portal (connection refused or timed out): is the address right, the target listening there, a firewall in the way?",
    12: "iSCSI transport not available: the kernel module iscsi_tcp is not loaded (a container cannot load it)",
    13: "permission denied",
    15: "session already exists",
    19: "fatal login error: the target refused this initiator (is its InitiatorName in the target's ACL?)",
    20: "cannot connect to iscsid: is the iscsid service running?",
    21: "no records, targets or sessions found",
    24: "authorization failure: CHAP user or secret wrong, or this initiator is not in the target's ACL",
    28: "device or resource in use",
}

EMPTY = "<empty>"

_PORTAL_LINE = re.compile(r"^\s*(?P<address>\[[^\]]+\]|[^\s:]+):(?P<port>\d+),(?P<tpgt>-?\d+)\s+(?P<target>\S+)\s*$")
_RECORD_LINE = re.compile(r"^(?P<key>[A-Za-z0-9_.\[\]]+)\s=\s?(?P<value>.*)$")
_PORTAL = re.compile(r"(?P<address>\[[^\]]+\]|[^\s:]+):(?P<port>\d+),(?P<tpgt>-?\d+)")
_LUN_LINE = re.compile(r"^scsi(?P<host>\d+)\s+Channel\s+(?P<channel>\d+)\s+Id\s+(?P<id>\d+)\s+Lun:\s+(?P<lun>\d+)$")
_DISK_LINE = re.compile(r"^Attached scsi disk\s+(?P<disk>\S+)\s+State:\s+(?P<state>\S+)$")


def explain_exit_code(rc):
    """A sentence for iscsiadm's exit code."""
    return EXIT_CODES.get(rc, "iscsiadm exit code %s" % rc)


def portal_string(address, port):
    """The portal as iscsiadm's -p wants it (IPv6 addresses in brackets)."""
    if ":" in address and not address.startswith("["):
        address = "[%s]" % address
    return "%s:%s" % (address, port)


def _strip_brackets(address):
    if address.startswith("[") and address.endswith("]"):
        return address[1:-1]
    return address


class PortalNotResolved(Exception):
    """The portal is a host name this host cannot resolve."""


def _ip(text):
    """The ipaddress object of an address literal (IPv6 in brackets or
    not), or None for anything else (a host name)."""
    try:
        return ipaddress.ip_address(_strip_brackets(text.strip()))
    except ValueError:
        return None


def same_address(first, second):
    """True when two portal addresses are the same: two address literals
    compared as addresses (fd00::10 is fd00:0::10), anything else as
    names (case ignored)."""
    a, b = _ip(first), _ip(second)
    if a is not None and b is not None:
        return a == b
    return _strip_brackets(first).lower() == _strip_brackets(second).lower()


def portal_addresses(portal, port, resolve=None):
    """What a record or a session through `portal` may show as its address.

    An address literal: itself. A host name: the name (a record made
    without discovery keeps it, and the kernel's persistent portal with
    it), then every address the name resolves to on this host, in the
    order getaddrinfo gives them for TCP (iscsid resolves it the same way
    at login; a session shows the address it connected to, and discovery
    names its portals by address). `resolve` stands in for
    socket.getaddrinfo. Raises PortalNotResolved when the name resolves
    to nothing.
    """
    if _ip(portal) is not None:
        return [_strip_brackets(portal.strip())]
    resolve = resolve or socket.getaddrinfo
    try:
        infos = resolve(portal, port, 0, socket.SOCK_STREAM)
    except (socket.gaierror, socket.herror, UnicodeError) as exc:
        raise PortalNotResolved(
            "the portal %s does not resolve on this host (%s): give its address, or a name this host resolves "
            "(/etc/hosts, DNS)" % (portal, exc))
    found = [portal]
    for info in infos:
        address = info[4][0]
        if not any(same_address(address, known) for known in found):
            found.append(address)
    if len(found) == 1:
        raise PortalNotResolved("the portal %s resolves to no address on this host: give its address, or a name "
                                "this host resolves (/etc/hosts, DNS)" % portal)
    return found


def _candidates(address):
    return list(address) if isinstance(address, (list, tuple)) else [address]


def parse_portal_list(text):
    """Parse `iscsiadm -m discovery -t st -p P` or `iscsiadm -m node`.

    Each line reads `ADDRESS:PORT,TPGT TARGET`; returns a list of dicts
    with address, port (int), tpgt (int) and target, in output order.
    Lines that are not portal lines (warnings) are ignored.
    """
    found = []
    for line in text.splitlines():
        match = _PORTAL_LINE.match(line)
        if match:
            found.append({
                "address": _strip_brackets(match.group("address")),
                "port": int(match.group("port")),
                "tpgt": int(match.group("tpgt")),
                "target": match.group("target"),
            })
    return found


def parse_node_record(text):
    """Parse a node record (`iscsiadm -m node -T T -p P [-S]`).

    Lines read `key = value`; `<empty>` becomes an empty string. Comment
    lines (`# BEGIN RECORD`, `# END RECORD`) are skipped. Returns a dict.
    """
    record = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _RECORD_LINE.match(line)
        if not match:
            continue
        value = match.group("value").strip()
        record[match.group("key")] = "" if value == EMPTY else value
    return record


def record_files(record, node_dir="/etc/iscsi/nodes"):
    """Where open-iscsi may keep a node record's file, most likely first,
    from the record itself (`iscsiadm -m node -T T -p P`):
    NODE_DIR/<target>/<address>,<port>,<tpgt>/<iface> for a record that
    discovery made; a static record (`-o new`, tpgt -1) drops the tpgt:
    NODE_DIR/<target>/<address>,<port>, a file (open-iscsi 2.1.8 writes it
    so) or a directory holding <iface>. Empty when the record lacks one of
    those fields."""
    keys = ("node.name", "node.conn[0].address", "node.conn[0].port", "node.tpgt", "iface.iscsi_ifacename")
    values = [record.get(key, "") for key in keys]
    if not all(values) or any("/" in value or value in (".", "..") for value in values):
        return []
    target, address, port, tpgt, iface = values
    portal = "%s,%s" % (address, port) if tpgt == "-1" else "%s,%s,%s" % (address, port, tpgt)
    base = "/".join((node_dir.rstrip("/"), target, portal))
    return [base + "/" + iface, base]


def set_record_values(text, values):
    """A record file's text with each setting of `values` set: the line
    `key = value` replaced where the key is, added before `# END RECORD`
    (or at the end) where it is not. The file's other lines are kept as
    they are. An empty value is written as iscsiadm writes it (<empty>)."""
    lines = text.splitlines()
    left = dict(values)
    out = []
    for line in lines:
        match = _RECORD_LINE.match(line)
        if match and match.group("key") in left:
            key = match.group("key")
            line = "%s = %s" % (key, left.pop(key) or EMPTY)
        out.append(line)
    added = ["%s = %s" % (key, value or EMPTY) for key, value in sorted(left.items())]
    end = next((i for i, line in enumerate(out) if line.startswith("# END RECORD")), len(out))
    out[end:end] = added
    return "\n".join(out) + "\n"


def parse_sessions(text):
    """Parse `iscsiadm -m session -P 3`.

    Returns a list of sessions, each a dict: target, address, port, tpgt
    (the portal the kernel is connected to), persistent_address and
    persistent_port (the portal of the node record: the address discovery
    found, or the host name a static record was made with), sid (int),
    iface, state (iSCSI session state), connection_state,
    internal_state, username (CHAP user, '' when none) and luns: a list of
    {lun, host, channel, id, disk, state} where disk is the kernel name of
    the attached disk (e.g. sdb) or '' for a LUN that is not a disk (tgt's
    LUN 0 is its controller).
    """
    sessions = []
    target = None
    session = None
    lun = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("Target:"):
            target = line.split()[1]
            session = None
            continue
        if line.startswith("Current Portal:"):
            match = _PORTAL.search(line)
            session = {
                "target": target,
                "address": _strip_brackets(match.group("address")) if match else "",
                "port": int(match.group("port")) if match else 0,
                "tpgt": int(match.group("tpgt")) if match else 0,
                "persistent_address": "",
                "persistent_port": 0,
                "sid": None,
                "iface": "",
                "state": "",
                "connection_state": "",
                "internal_state": "",
                "username": "",
                "luns": [],
            }
            sessions.append(session)
            lun = None
            continue
        if session is None:
            continue
        if line.startswith("Persistent Portal:"):
            match = _PORTAL.search(line)
            if match:
                session["persistent_address"] = _strip_brackets(match.group("address"))
                session["persistent_port"] = int(match.group("port"))
        elif line.startswith("Iface Name:"):
            session["iface"] = line.split(":", 1)[1].strip()
        elif line.startswith("SID:"):
            session["sid"] = int(line.split(":", 1)[1].strip())
        elif line.startswith("iSCSI Connection State:"):
            session["connection_state"] = line.split(":", 1)[1].strip()
        elif line.startswith("iSCSI Session State:"):
            session["state"] = line.split(":", 1)[1].strip()
        elif line.startswith("Internal iscsid Session State:"):
            session["internal_state"] = line.split(":", 1)[1].strip()
        elif line.startswith("username:"):
            value = line.split(":", 1)[1].strip()
            session["username"] = "" if value == EMPTY else value
        else:
            match = _LUN_LINE.match(line)
            if match:
                lun = {
                    "lun": int(match.group("lun")),
                    "host": int(match.group("host")),
                    "channel": int(match.group("channel")),
                    "id": int(match.group("id")),
                    "disk": "",
                    "state": "",
                }
                session["luns"].append(lun)
                continue
            match = _DISK_LINE.match(line)
            if match and lun is not None:
                lun["disk"] = match.group("disk")
                lun["state"] = match.group("state")
    return sessions


def find_session(sessions, target, address, port):
    """The session to this target through this portal, or None.

    `address` is one address, or a list of them (portal_addresses: a host
    name and its addresses). A session matches by the portal it is
    connected to, or by its record's (persistent) portal.
    """
    candidates = _candidates(address)
    for session in sessions:
        if session["target"] != target:
            continue
        for shown, shown_port in ((session["address"], session["port"]),
                                  (session.get("persistent_address") or "", session.get("persistent_port"))):
            if shown and shown_port == port and any(same_address(shown, c) for c in candidates):
                return session
    return None


def find_offered(offered, target, address, port):
    """The portal (an item of parse_portal_list) through which discovery
    offered this target at one of the addresses (see find_session), or None."""
    candidates = _candidates(address)
    for item in offered:
        if item["target"] == target and item["port"] == port and \
                any(same_address(item["address"], c) for c in candidates):
            return item
    return None


def record_portal(records, target, addresses, port):
    """The address under which iscsiadm keeps the node record of this
    target for a portal given by host name, or None when there is none.

    `records` is `iscsiadm -m node` parsed (parse_portal_list) and
    `addresses` portal_addresses(): the name first (a record made without
    discovery), then each of its addresses in order (discovery keeps a
    record under the address the target names).
    """
    for candidate in addresses:
        for item in records:
            if item["target"] == target and item["port"] == port and same_address(item["address"], candidate):
                return item["address"]
    return None


def by_path_name(address, port, target, lun):
    """udev's /dev/disk/by-path name for an iSCSI LUN: udev's path_id
    writes ip-ADDRESS:PORT-iscsi-TARGET-lun-N from the connection's
    persistent address and port as the kernel has them (the node record's
    address: no brackets around an IPv6 address)."""
    return "/dev/disk/by-path/ip-%s:%s-iscsi-%s-lun-%d" % (address, port, target, lun)


def settings_to_change(record, wanted):
    """The node settings whose value differs from the record.

    `wanted` maps setting names to strings. Returns a list of (name, old,
    new) in `wanted`'s order. A setting the record does not know is an
    error for iscsiadm too: it is returned with old None so the caller can
    refuse it with a message.
    """
    changes = []
    for name, value in wanted.items():
        old = record.get(name)
        if old != value:
            changes.append((name, old, value))
    return changes


def render_settings(record, names, secret_names, changed=()):
    """`name = value` lines for --diff. A secret is never shown: it reads
    `********`, followed by `(new value)` on the side where it changes."""
    lines = []
    for name in names:
        value = record.get(name)
        if value is None:
            value = "(not set)"
        elif name in secret_names:
            value = "********" if value else ""
            if name in changed:
                value += " (new value)"
        lines.append("%s = %s" % (name, value))
    return "\n".join(lines) + "\n"
