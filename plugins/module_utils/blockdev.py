# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a block device (or an image file) holds, read without changing it:
the one check of "this device holds nothing" before anything is written
on it (mkfs.ocfs2 in the ocfs2 role, DRBD metadata in drbd_resource).

A device holds nothing when:

* ``wipefs`` finds no signature on it (file systems, RAID and LVM
  members, partition tables: a GPT shows as ``gpt`` twice, the primary
  header and the backup at the end, plus ``PMBR``, the protective MBR);
* ``blkid --probe`` finds neither TYPE nor PTTYPE (belt and braces:
  libblkid is the same library, but blkid drops what wipefs lists, e.g. a
  GPT whose primary header and PMBR were wiped and whose backup is left
  at the end: wipefs lists it, blkid says nothing);
* its first and its last MiB are zeros (all of it when it is smaller than
  2 MiB): data without any signature.

A partition table is looked into: ``partx`` lists its partitions and
``blkid --probe --offset --size`` reads each, so the findings name the file
system inside a partition, which wipefs and blkid on the whole device do
not show.

The parsers are plain functions; the unit tests feed them with what
util-linux 2.38.1 (Debian 12) printed for real disk images
(tests/unit/plugins/module_utils/fixtures/blockdev/README.md).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import re

MIB = 1024 * 1024
# libblkid, and so partx, counts partition starts and sizes in 512-byte
# sectors whatever the device's own sector size.
SECTOR = 512

# wipefs USAGE -> what the finding calls it.
_NOUNS = {
    "filesystem": "file system",
    "partition-table": "partition table",
    "raid": "RAID or volume manager member",
    "crypto": "encrypted volume",
}
# A protective MBR belongs to its GPT: allowing gpt allows it.
_PART_OF = {"PMBR": "gpt"}

_PAIR = re.compile(r'([A-Z_]+)="((?:[^"\\]|\\.)*)"')
_HEX_ESCAPE = re.compile(r"\\x([0-9A-Fa-f]{2})")
_BACKSLASH_ESCAPE = re.compile(r"\\(.)")


class BlockdevError(Exception):
    """A tool failed, or printed what these functions do not understand."""


def wipefs_argv(wipefs, path):
    """List every signature, never erase: without --all or --offset wipefs
    only lists, and --no-act forbids any write anyway."""
    return [wipefs, "--no-act", "--json", "--output", "TYPE,LABEL,UUID,OFFSET,USAGE", path]


def blkid_argv(blkid, path, offset=None, size=None):
    """Low-level probe (no cache) of the whole device, or of the area from
    ``offset`` of ``size`` bytes (a partition)."""
    argv = [blkid, "--probe"]
    if offset is not None:
        argv += ["--offset", str(offset), "--size", str(size)]
    return argv + ["--output", "export", path]


def partx_argv(partx, path):
    return [partx, "--pairs", "--output", "NR,START,SECTORS,TYPE,NAME,SCHEME", path]


def parse_wipefs(text):
    """``wipefs --json`` -> ``[{"type", "label", "uuid", "offset", "usage"}]``
    in wipefs's order; ``offset`` in bytes, missing label/uuid as ''."""
    if not (text or "").strip():
        return []
    try:
        data = json.loads(text)
        entries = data["signatures"]
    except (ValueError, KeyError, TypeError):
        raise BlockdevError("wipefs printed what is not its JSON output: %r" % (text or "")[:200])
    found = []
    for entry in entries:
        try:
            offset = int(entry.get("offset") or "0", 0)
        except (TypeError, ValueError):
            raise BlockdevError("wipefs printed an offset that is not a number: %r" % entry.get("offset"))
        found.append(dict(type=entry.get("type") or "", label=entry.get("label") or "",
                          uuid=entry.get("uuid") or "", offset=offset, usage=entry.get("usage") or ""))
    return found


def parse_blkid_export(text):
    """``blkid --output export`` -> ``{"TYPE": ..., "PTTYPE": ...}``
    (backslash escapes undone; DEVNAME left out)."""
    tags = {}
    for line in (text or "").splitlines():
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        if key and key != "DEVNAME":
            tags[key.strip()] = _BACKSLASH_ESCAPE.sub(r"\1", value)
    return tags


def parse_partx(text):
    """``partx --pairs`` -> ``[{"number", "start", "size", "type", "name",
    "scheme"}]``, start and size in bytes."""
    partitions = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        fields = dict((key, _HEX_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value))
                      for key, value in _PAIR.findall(line))
        try:
            partitions.append(dict(number=int(fields["NR"]), start=int(fields["START"]) * SECTOR,
                                   size=int(fields["SECTORS"]) * SECTOR, type=fields.get("TYPE", ""),
                                   name=fields.get("NAME", ""), scheme=fields.get("SCHEME", "")))
        except (KeyError, ValueError):
            raise BlockdevError("partx printed a line without NR, START and SECTORS: %r" % line)
    return partitions


def blkid_signatures(tags):
    """What a ``blkid --probe`` result names, as wipefs-like signatures
    (offset unknown: None)."""
    found = []
    if tags.get("PTTYPE"):
        found.append(dict(type=tags["PTTYPE"], label="", uuid=tags.get("PTUUID", ""), offset=None,
                          usage="partition-table"))
    if tags.get("TYPE"):
        found.append(dict(type=tags["TYPE"], label=tags.get("LABEL", ""), uuid=tags.get("UUID", ""), offset=None,
                          usage=tags.get("USAGE", "")))
    return found


def merge_signatures(wipefs, blkid):
    """wipefs's signatures, plus what blkid names that wipefs did not."""
    types = set(sig["type"] for sig in wipefs)
    return list(wipefs) + [sig for sig in blkid if sig["type"] not in types]


def size_of(path):
    """The size in bytes of a block device or file, as the kernel has it now
    (lseek SEEK_END): a device grown under a running system shows its new
    size at once. Raises OSError."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


def nonzero_areas(path, area=MIB):
    """Which of the first and the last ``area`` bytes of ``path`` are not all
    zeros: ``[]``, ``["first MiB"]``, ``["last MiB"]``, both, or
    ``["whole device (N bytes)"]`` for a device smaller than two areas (read
    whole).

    Opened read-only; the size is where the end is (lseek SEEK_END), which
    works for block devices and files alike."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        if size < 2 * area:
            return ["whole device (%d bytes)" % size] if not _zeros(fd, 0, size) else []
        name = "MiB" if area == MIB else "%d bytes" % area
        return [label for label, start in (("first " + name, 0), ("last " + name, size - area))
                if not _zeros(fd, start, area)]
    finally:
        os.close(fd)


def _zeros(fd, start, length):
    os.lseek(fd, start, os.SEEK_SET)
    left = length
    while left > 0:
        chunk = os.read(fd, min(left, MIB))
        if not chunk:
            break
        if chunk.count(b"\0") != len(chunk):
            return False
        left -= len(chunk)
    return True


def human_size(size):
    for unit, name in ((1024 ** 4, "TiB"), (1024 ** 3, "GiB"), (MIB, "MiB"), (1024, "KiB")):
        if size >= unit:
            return "%g %s" % (round(float(size) / unit, 1), name)
    return "%d bytes" % size


def describe_signature(sig):
    """``ext4 file system labelled 'data'``, ``gpt partition table``."""
    text = "%s %s" % (sig["type"], _NOUNS.get(sig["usage"], "signature"))
    if sig.get("label"):
        text += " labelled '%s'" % sig["label"]
    return text


def describe_partition(part):
    where = "partition %d (%s at %s)" % (part["number"], human_size(part["size"]), human_size(part["start"]))
    if not part.get("holds"):
        return "%s: no signature found in it" % where
    return "%s: %s" % (where, ", ".join(describe_signature(sig) for sig in part["holds"]))


def findings(report):
    """What the device holds, for people: one string a finding, empty when
    it holds nothing. Each signature once (a GPT's backup header and its
    protective MBR go with it); a signature found only outside the first
    MiB says where; then each partition; the non-zero areas only when no
    signature was found (a signature explains them)."""
    signatures = report["signatures"]
    types = set(sig["type"] for sig in signatures)
    said = []
    seen = set()
    for sig in signatures:
        if _PART_OF.get(sig["type"]) in types:
            continue
        key = (sig["type"], sig["label"], sig["usage"])
        if key in seen:
            continue
        seen.add(key)
        text = describe_signature(sig)
        offsets = [s["offset"] for s in signatures if (s["type"], s["label"], s["usage"]) == key]
        if all(offset is not None and offset >= MIB for offset in offsets):
            text += " at byte %s" % ", ".join(str(offset) for offset in offsets)
        said.append(text)
    said += [describe_partition(part) for part in report.get("partitions", [])]
    if not signatures:
        said += ["non-zero bytes in the %s" % area for area in report.get("nonzero", [])]
    return said


def verdict(report, allow=()):
    """``(blank, existing, unexpected)``: whether the device holds nothing;
    the allowed signature it holds when everything on it is allowed (else
    None); the findings that are not allowed (empty: nothing to refuse)."""
    signatures = report["signatures"]
    holds = findings(report)
    blank = not holds
    allowed = set(allow)
    others = [sig for sig in signatures if _PART_OF.get(sig["type"], sig["type"]) not in allowed]
    if signatures and not others:
        filesystems = [sig for sig in signatures if sig["usage"] == "filesystem"] or signatures
        return blank, dict(filesystems[0]), []
    return blank, None, holds


def probe(module, path):
    """Read what ``path`` holds: ``{"signatures": [...], "partitions":
    [...], "nonzero": [...], "holds": [...]}``. ``module`` is the
    AnsibleModule (get_bin_path, run_command); nothing run writes."""
    tools = {}
    for name in ("wipefs", "blkid", "partx"):
        tools[name] = module.get_bin_path(name)
        if not tools[name]:
            raise BlockdevError("%s was not found: install the util-linux package" % name)

    def run(argv, ok=(0,)):
        rc, out, err = module.run_command(argv, environ_update=dict(LANG="C", LC_ALL="C", LC_MESSAGES="C"))
        if rc not in ok:
            raise BlockdevError("'%s' failed (rc %s): %s" % (" ".join(argv), rc, (err or out).strip()))
        return rc, out, err

    try:
        nonzero = nonzero_areas(path)
    except (IOError, OSError) as exc:
        raise BlockdevError("cannot read %s: %s" % (path, exc.strerror or exc))
    wiped = parse_wipefs(run(wipefs_argv(tools["wipefs"], path))[1])
    # 2: nothing found; 8: more than one file system (wipefs lists them).
    rc, out, err = run(blkid_argv(tools["blkid"], path), ok=(0, 2, 8))
    signatures = merge_signatures(wiped, blkid_signatures(parse_blkid_export(out)))
    partitions = []
    if any(sig["usage"] == "partition-table" for sig in signatures):
        # partx fails ("failed to read partition table") on a table libblkid
        # will not use, e.g. a lone backup GPT: the table is named anyway.
        rc, out, err = run(partx_argv(tools["partx"], path), ok=(0, 1))
        for part in parse_partx(out) if rc == 0 else []:
            rc, out, err = run(blkid_argv(tools["blkid"], path, part["start"], part["size"]), ok=(0, 2, 8))
            part["holds"] = blkid_signatures(parse_blkid_export(out))
            partitions.append(part)
    report = dict(signatures=signatures, partitions=partitions, nonzero=nonzero)
    report["holds"] = findings(report)
    return report


def refusal(path, unexpected, allow=(), hint=""):
    """The message for a device that may not be written: where, what is on
    it, that nothing was changed, and what would allow it."""
    if allow:
        head = "%s is neither blank nor only %s: it holds: %s." % (path, " or ".join(allow), "; ".join(unexpected))
    else:
        head = "%s is not blank: it holds: %s." % (path, "; ".join(unexpected))
    return " ".join(part for part in (head, "Nothing was changed.", hint.strip()) if part)
