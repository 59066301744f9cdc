# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain functions for DRBD 8.4 (the Debian 12 kernel's DRBD) driven by
drbd-utils 9 (drbdadm, which calls drbdsetup-84 and drbdmeta).

No Ansible here: the module feeds these with what the tools print; the
unit tests feed them with output captured in the VM lab (drbd-utils 9.22,
kernel DRBD 8.4.11).

What the real tools do, and these functions follow:

* ``/proc/drbd`` lists each configured minor: ``N: cs:CSTATE
  ro:ROLE/PEER ds:DISK/PEERDISK PROTOCOL FLAGS`` then a counters line
  (``oos`` is what is out of sync, in KiB) and, while a resync runs, a
  progress line and a ``finish:`` line.
* ``drbdadm get-gi RES`` prints the generation identifiers from the
  kernel (resource up) or from the on-disk metadata (resource down): four
  UUIDs then seven flags. Without metadata it prints "No valid meta data
  found" with exit status 1. A brand-new metadata block has the current
  UUID 0000000000000004 (UUID_JUST_CREATED).
* ``drbdadm -d adjust RES`` prints the commands adjust would run, one a
  line; nothing when the running resource matches its configuration.
* ``drbdadm resize RES`` makes the device as big as the smaller of the
  two backing devices allows (internal metadata moved to the new end),
  only while connected and with one node Primary, and resyncs the new
  part; it does nothing when neither backing device grew.
* Those commands carry the peers' shared secret (``--shared-secret=``,
  shell-quoted), and so does drbdadm's message when one of them fails
  ("Command '...' terminated with exit code 10"); ``drbdadm dump`` prints
  the configuration's ``shared-secret "...";``.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re

# drbd_uuid UUID_JUST_CREATED: metadata that never held data of its own.
JUST_CREATED = "0000000000000004"

# Connection states in which the peers talk to each other (everything
# from "Connected" on in DRBD 8.4's enum drbd_conns).
CONNECTED_STATES = frozenset([
    "Connected", "StartingSyncS", "StartingSyncT", "WFBitMapS", "WFBitMapT", "WFSyncUUID",
    "SyncSource", "SyncTarget", "VerifyS", "VerifyT", "PausedSyncS", "PausedSyncT",
    "Ahead", "Behind",
])
SYNCING_STATES = frozenset([
    "StartingSyncS", "StartingSyncT", "WFBitMapS", "WFBitMapT", "WFSyncUUID",
    "SyncSource", "SyncTarget", "PausedSyncS", "PausedSyncT",
])

GI_FLAGS = ("consistent", "was_up_to_date", "primary", "connected", "full_sync_pending",
            "peer_outdated", "crashed_primary")

_VERSION = re.compile(r"^version:\s*(\S+)")
_MINOR = re.compile(
    r"^\s*(\d+):\s+cs:(\S+)"
    r"(?:\s+ro:(\S+?)/(\S+))?"
    r"(?:\s+ds:(\S+?)/(\S+))?"
    r"(?:\s+([ABC])\b)?"
    r"(?:\s+(\S+))?\s*$")
_COUNTER = re.compile(r"\b([a-z]+):(\S+)")
_PROGRESS = re.compile(r"sync'ed:\s*([\d.]+)%")
_FINISH = re.compile(r"finish:\s*(\d+):(\d+):(\d+)")
_HEX16 = re.compile(r"^[0-9A-Fa-f]{16}$")
# drbdadm prints the option shell-quoted (``two\ words``); the
# configuration quotes the value with double quotes.
_SECRET_OPTION = re.compile(r"""(--shared-secret=)(?:'[^']*'|"(?:[^"\\]|\\.)*"|\\.|[^\s'"\\])+""")
_SECRET_STATEMENT = re.compile(r"""(\bshared-secret\s+)("(?:[^"\\]|\\.)*"|[^\s;]+)""")
REDACTED = "********"


class DrbdOutputError(ValueError):
    """The text is not what the DRBD tool prints."""


def parse_proc_drbd(text):
    """``/proc/drbd`` -> ``{"version": "8.4.11", "minors": {1: {...}}}``.

    Each minor: ``cstate``, ``role``, ``peer_role``, ``disk``,
    ``peer_disk``, ``protocol``, ``out_of_sync_kib`` and, during a resync,
    ``sync_percent`` and ``sync_finish_s``. An empty text (no module
    loaded) raises DrbdOutputError.
    """
    lines = (text or "").splitlines()
    version = None
    for line in lines:
        found = _VERSION.match(line)
        if found:
            version = found.group(1)
            break
    if version is None:
        raise DrbdOutputError("no 'version:' line: is the drbd kernel module loaded?")
    minors = {}
    current = None
    for line in lines:
        found = _MINOR.match(line)
        if found:
            minor = int(found.group(1))
            current = dict(
                cstate=found.group(2),
                role=found.group(3) or "Unknown",
                peer_role=found.group(4) or "Unknown",
                disk=found.group(5) or "Unconfigured",
                peer_disk=found.group(6) or "DUnknown",
                protocol=found.group(7) or "",
                out_of_sync_kib=0,
            )
            minors[minor] = current
            continue
        if current is None:
            continue
        counters = dict(_COUNTER.findall(line))
        if "oos" in counters:
            current["out_of_sync_kib"] = int(counters["oos"])
        progress = _PROGRESS.search(line)
        if progress:
            current["sync_percent"] = float(progress.group(1))
        finish = _FINISH.search(line)
        if finish:
            hours, minutes, seconds = (int(part) for part in finish.groups())
            current["sync_finish_s"] = hours * 3600 + minutes * 60 + seconds
    return dict(version=version, minors=minors)


def proc_drbd_minors(text):
    """``/proc/drbd`` -> ``{minor: status}`` (parse_proc_drbd's
    ``minors``); ``{}`` for an empty text, which is what a host without
    the drbd module gives (the file is absent). A text that is not
    /proc/drbd raises DrbdOutputError."""
    if not (text or "").strip():
        return {}
    return parse_proc_drbd(text)["minors"]


def parse_gi(text):
    """``drbdadm get-gi`` -> ``{"current": ..., "bitmap": ..., "history":
    [..], "flags": {...}, "just_created": bool}``."""
    line = (text or "").strip().splitlines()[-1:] or [""]
    fields = line[0].strip().split(":")
    if len(fields) < 4 + len(GI_FLAGS) or not all(_HEX16.match(field) for field in fields[:4]):
        raise DrbdOutputError("not generation identifiers: %r" % line[0])
    current = fields[0].upper()
    flags = dict(zip(GI_FLAGS, (field == "1" for field in fields[4:4 + len(GI_FLAGS)])))
    return dict(current=current, bitmap=fields[1].upper(), history=[fields[2].upper(), fields[3].upper()],
                flags=flags, just_created=current == JUST_CREATED)


def no_metadata(stderr):
    """True when drbdadm/drbdmeta said the backing device holds no DRBD metadata."""
    return "No valid meta data found" in (stderr or "")


def not_in_config(stderr):
    """True when drbdadm said the resource is not configured for this host."""
    return "not defined in your config" in (stderr or "")


def parse_adjust_dry_run(text):
    """``drbdadm -d adjust`` -> the commands it would run (empty: in sync)."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def is_connected(status):
    """True when a minor's status (from parse_proc_drbd) shows its peer connected."""
    return bool(status) and status.get("cstate") in CONNECTED_STATES


def is_whole(status):
    """True when a minor's status shows it Connected (no resync under way)
    and UpToDate on both sides."""
    return (bool(status) and status.get("cstate") == "Connected"
            and (status.get("disk"), status.get("peer_disk")) == ("UpToDate", "UpToDate"))


def is_syncing(status):
    return bool(status) and status.get("cstate") in SYNCING_STATES


def needs_initial_sync(status, gi):
    """True for a brand-new resource on both sides: connected, both disks
    Inconsistent, and this node's metadata never held data. Only then may a
    node be forced primary to start the first full sync."""
    return (is_connected(status) and status.get("disk") == "Inconsistent"
            and status.get("peer_disk") == "Inconsistent" and bool(gi) and gi.get("just_created"))


def describe(status):
    """One line for people: 'Connected Secondary/Primary UpToDate/UpToDate'."""
    if not status:
        return "down"
    text = "%s %s/%s %s/%s" % (status["cstate"], status["role"], status["peer_role"], status["disk"], status["peer_disk"])
    if "sync_percent" in status:
        text += " (%.1f%% synced)" % status["sync_percent"]
    return text


def redact_secrets(value):
    """``value`` with every DRBD shared secret replaced by ********: the
    value of ``--shared-secret=`` (as ``drbdadm -d adjust`` prints it, and
    drbdadm when a drbdsetup command fails) and of ``shared-secret "..."``
    (the configuration, ``drbdadm dump``). Strings, and the strings inside
    lists, tuples and dicts; anything else as it is."""
    if isinstance(value, str):
        value = _SECRET_OPTION.sub(r"\1" + REDACTED, value)
        return _SECRET_STATEMENT.sub(lambda found: found.group(1) + (
            '"%s"' % REDACTED if found.group(2).startswith('"') else REDACTED), value)
    if isinstance(value, dict):
        return dict((key, redact_secrets(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(redact_secrets(item) for item in value)
    return value


SECTOR = 512
# What a grow must add before the module asks DRBD for it: DRBD rounds
# sizes down, and a device within this of its backing device's usable
# size is taken as using all of it.
GROW_SLACK = 1024 * 1024


def internal_metadata_bytes(backing_bytes):
    """The room DRBD 8.4's internal metadata takes at the end of a backing
    device of ``backing_bytes``: 4 KiB of bitmap for each 128 MiB started
    (one bit per 4 KiB block), plus the 4 KiB superblock and the 32 KiB
    activity log."""
    sectors = backing_bytes // SECTOR
    bitmap_sectors = ((sectors + (1 << 18) - 1) >> 18) * 8
    return (bitmap_sectors + 72) * SECTOR


def usable_bytes(backing_bytes):
    """What a DRBD device on ``backing_bytes`` of backing device (internal
    metadata) can hold at most."""
    return max(0, backing_bytes // SECTOR * SECTOR - internal_metadata_bytes(backing_bytes))


def grow_plan(status, device_bytes, backing_bytes):
    """Whether ``drbdadm resize`` should run on this node, from its status
    (parse_proc_drbd), the DRBD device's size and its backing device's.

    Returns (action, reason): ``none`` (nothing to grow), ``resize`` (run
    it), or ``wait`` (the backing device grew, but DRBD 8.4 can only grow
    a connected resource with both disks UpToDate and one node Primary:
    the reason says what is missing)."""
    usable = usable_bytes(backing_bytes)
    if usable < device_bytes + GROW_SLACK:
        return "none", "the device uses its backing device (%s of %s)" % (device_bytes, backing_bytes)
    if not is_whole(status):
        return "wait", ("its backing device grew (%s bytes, the device %s) but the resource is %s: it can be "
                        "grown only when Connected and UpToDate on both nodes"
                        % (backing_bytes, device_bytes, describe(status)))
    if "Primary" not in (status.get("role"), status.get("peer_role")):
        return "wait", ("its backing device grew (%s bytes, the device %s) but neither node is Primary (its VM is "
                        "stopped): DRBD 8.4 grows a device only through a Primary; run again while the VM runs"
                        % (backing_bytes, device_bytes))
    return "resize", "its backing device grew to %s bytes (the device %s)" % (backing_bytes, device_bytes)
