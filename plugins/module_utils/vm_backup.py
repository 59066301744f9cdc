# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain functions behind havirt.cluster.vm_backup and vm_restore: which of
a domain's disks a backup copies (from its libvirt XML), the
``<domainbackup>`` document that asks libvirt for a push-mode backup of
them, the manifest that describes a backup, and the ``qemu-img convert``
command that writes a backed-up disk back onto the disk's source (an image
file, a block device such as a DRBD resource or a LUN the kernel logged in
to, or an iSCSI LUN QEMU reaches by itself).

No libvirt import: the unit tests feed these with domain XML that libvirt
11 (Debian 13) and 9 (Debian 12) printed for the labs' VMs."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import posixpath
import re
import xml.etree.ElementTree as ET

from ansible_collections.havirt.cluster.plugins.module_utils.qemu_img import human

MANIFEST = "manifest.json"
# 1: full copies only; 2: adds kind, parent and checkpoint (incremental
# backups). Both are read.
FORMAT_VERSION = 2
FORMATS = (1, 2)
FULL = "full"
INCREMENTAL = "incremental"
# The libvirt checkpoint (and the qcow2 dirty bitmap) a backup leaves in
# the VM's disks is named after the backup: havirt-ID.
CHECKPOINT_PREFIX = "havirt-"
# An incremental backup's directory holds an empty file named after its
# parent, so that the backup host's retention and restore.yml read the
# chains from file names (ansible.builtin.find, os.listdir) alone.
PARENT_MARKER = "parent-"
CONSISTENT = "filesystems frozen"
CRASH_CONSISTENT = "crash-consistent"
_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_.-]{0,63}$")
# The ids backup.yml and the scheduled backups give: the UTC time.
_TIME_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z$")


class BackupError(Exception):
    """The domain or the backup is not one these functions can handle; the
    message says what to do."""


def check_id(backup_id):
    """A backup id names a directory: letters, digits, ``-``, ``_``, ``.``."""
    if not _ID.match(backup_id or "") or backup_id.endswith(".partial"):
        raise BackupError("backup id %r is not a name: use letters, digits, '-', '_' and '.', e.g. "
                          "20261204T075100Z" % (backup_id,))
    return backup_id


def _source(disk):
    """What a ``<disk>`` element reads from, as a dict (``kind`` file, block
    or iscsi)."""
    dtype = disk.get("type")
    src = disk.find("source")
    if src is None:
        return None
    if dtype == "file" and src.get("file"):
        return {"kind": "file", "path": src.get("file")}
    if dtype == "block" and src.get("dev"):
        return {"kind": "block", "path": src.get("dev")}
    if dtype == "network" and src.get("protocol") == "iscsi":
        host = src.find("host")
        if host is None or "/" not in (src.get("name") or ""):
            return None
        iqn, lun = src.get("name").rsplit("/", 1)
        out = {"kind": "iscsi", "host": host.get("name"), "port": host.get("port") or "3260",
               "target": iqn, "lun": lun}
        auth = src.find("auth")
        if auth is not None:
            secret = auth.find("secret")
            out["user"] = auth.get("username")
            out["secret_usage"] = secret.get("usage") if secret is not None else None
        initiator = src.find("initiator/iqn")
        if initiator is not None:
            out["initiator"] = initiator.get("name")
        return out
    return None


def disks_of(domain_xml):
    """The domain's writable disks (``device='disk'``, not read-only, not a
    shareable one), in the order libvirt lists them: a list of dicts with
    ``target`` (vda...), ``format`` (raw, qcow2) and ``source``. Raises
    BackupError for a disk whose source these functions cannot write back."""
    try:
        root = ET.fromstring(domain_xml)
    except ET.ParseError as exc:
        raise BackupError("the domain's XML does not parse: %s" % exc)
    disks = []
    for disk in root.findall("devices/disk"):
        if disk.get("device", "disk") != "disk" or disk.find("readonly") is not None:
            continue
        target = disk.find("target")
        driver = disk.find("driver")
        name = target.get("dev") if target is not None else None
        if disk.find("shareable") is not None:
            raise BackupError("disk %s of %s is shareable: a backup of a disk other domains write is not "
                              "consistent; leave it out of the VM or back it up from inside" % (name, root.findtext("name")))
        source = _source(disk)
        if source is None:
            raise BackupError("disk %s of %s (type %s) has a source this module cannot back up and restore: "
                              "an image file, a block device or an iSCSI LUN" % (name, root.findtext("name"), disk.get("type")))
        disks.append({"target": name, "format": driver.get("type", "raw") if driver is not None else "raw",
                      "source": source})
    if not disks:
        raise BackupError("%s has no writable disk to back up" % root.findtext("name"))
    return disks


def backup_file(directory, target):
    """Where libvirt writes a disk's copy (uncompressed qcow2)."""
    return "%s/%s.copy.qcow2" % (directory, target)


def final_file(target):
    """A backed-up disk's file name in a backup (compressed qcow2)."""
    return "%s.qcow2" % target


def backup_xml(domain_xml, disks, directory, incremental=None):
    """The ``<domainbackup>`` of a push-mode backup of ``disks`` into
    ``directory``: full, or of what changed since the checkpoint named
    ``incremental``; every other disk of the domain (the cloud-init seed, a
    CD-ROM) is listed with ``backup='no'``."""
    chosen = set(d["target"] for d in disks)
    root = ET.Element("domainbackup", mode="push")
    if incremental:
        ET.SubElement(root, "incremental").text = incremental
    elements = ET.SubElement(root, "disks")
    for disk in ET.fromstring(domain_xml).findall("devices/disk"):
        target = disk.find("target")
        if target is None:
            continue
        name = target.get("dev")
        if name in chosen:
            element = ET.SubElement(elements, "disk", name=name, backup="yes", type="file")
            ET.SubElement(element, "target", file=backup_file(directory, name))
            ET.SubElement(element, "driver", type="qcow2")
        else:
            ET.SubElement(elements, "disk", name=name, backup="no")
    return ET.tostring(root, encoding="unicode")


def checkpoint_name(backup_id):
    """The libvirt checkpoint (and dirty bitmap) a backup leaves behind."""
    return CHECKPOINT_PREFIX + check_id(backup_id)


def checkpoint_xml(domain_xml, disks, name, created=None):
    """The ``<domaincheckpoint>`` named ``name``: a dirty bitmap in each of
    ``disks``, none in the domain's other disks. The same document creates
    the checkpoint with a backup and, later, redefines it (libvirt forgets
    a transient domain's checkpoints when it stops or moves; the bitmaps
    stay in the qcow2 files): a redefinition needs its ``created`` time
    (seconds since the epoch; libvirt only shows it)."""
    chosen = set(d["target"] for d in disks)
    root = ET.Element("domaincheckpoint")
    ET.SubElement(root, "name").text = name
    if created is not None:
        ET.SubElement(root, "creationTime").text = str(int(created))
    elements = ET.SubElement(root, "disks")
    for disk in ET.fromstring(domain_xml).findall("devices/disk"):
        target = disk.find("target")
        if target is not None:
            ET.SubElement(elements, "disk", name=target.get("dev"),
                          checkpoint="bitmap" if target.get("dev") in chosen else "no")
    return ET.tostring(root, encoding="unicode")


def incremental_problem(disks):
    """Why ``disks`` cannot be backed up incrementally, or None: QEMU keeps
    a persistent dirty bitmap only in a qcow2 image, and libvirt reaches
    one only in a file or a block device."""
    for disk in disks:
        if disk["format"] != "qcow2":
            return ("disk %s is %s: only qcow2 disks keep the dirty bitmap an incremental backup reads"
                    % (disk["target"], disk["format"]))
        if disk["source"]["kind"] not in ("file", "block"):
            return "disk %s is an iSCSI LUN QEMU reaches by itself: no dirty bitmap there" % disk["target"]
    return None


def stale_bitmaps(info_text, keep=()):
    """The names of the havirt dirty bitmaps in ``qemu-img info
    --output=json`` of a qcow2 image, but those in ``keep``: left by a
    backup that never reached the backup host, they would slow every write
    of the guest for nothing."""
    try:
        data = json.loads(info_text)
    except ValueError as exc:
        raise BackupError("qemu-img info printed no JSON: %s" % exc)
    specific = (data.get("format-specific") or {}).get("data") or {}
    names = [b.get("name", "") for b in specific.get("bitmaps") or []]
    return [n for n in names if n.startswith(CHECKPOINT_PREFIX) and n not in keep]


def incremental_commands(qemu_img, copy, final, stub, parent_file, size):
    """argv lists that turn libvirt's incremental copy (a qcow2 holding
    only the clusters written since the parent's checkpoint) into the
    backup's compressed ``final``, backed by ``parent_file`` (relative: the
    parent backup's disk, beside this backup on the backup host).
    ``qemu-img convert -c`` alone would lose what an incremental is made
    of: an unwritten cluster (read from the parent) and a cluster the
    guest zeroed (read as zeros) both read as zeros without a backing file.
    Behind an empty stub both stay what they are; the stub is replaced by
    the parent only after ``qemu-img check``, which opens the chain."""
    rebase = [qemu_img, "rebase", "-u", "-F", "qcow2", "-b"]
    return [
        [qemu_img, "create", "-q", "-f", "qcow2", stub, str(size)],
        rebase + [stub, copy],
        [qemu_img, "convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd", "-B", stub, "-F", "qcow2",
         copy, final],
        [qemu_img, "check", "-q", "-f", "qcow2", final],
        rebase + [parent_file, final],
    ]


def parent_file(parent_id, target):
    """A disk's backing file in an incremental backup: its parent's copy,
    relative to the backup's directory."""
    return "../%s/%s" % (check_id(parent_id), final_file(target))


def freeze_verdict(frozen=None, error=None):
    """(consistency, detail) of a backup: ``frozen`` is how many file
    systems the guest agent froze, ``error`` libvirt's message when it
    could not (no agent in the guest, or no channel)."""
    if error is None and frozen:
        return CONSISTENT, "%d file system(s) frozen by the guest agent while the backup began" % frozen
    if error is None:
        return CRASH_CONSISTENT, "the guest agent froze no file system"
    return CRASH_CONSISTENT, "the guest agent could not freeze: %s" % error


def manifest(vm, backup_id, started, ended, consistency, detail, disks, domain_xml, sizes, chain=None):
    """The manifest.json of a backup, as a dict: what restore reads.
    ``chain``: {kind, parent, checkpoint, detail} (a full copy without
    checkpoint when None)."""
    chain = chain or {"kind": FULL, "parent": None, "checkpoint": None, "detail": "incremental backups are off"}
    return {
        "format": FORMAT_VERSION, "vm": vm, "id": backup_id, "started": started, "ended": ended,
        "consistency": consistency, "consistency_detail": detail,
        "kind": chain["kind"], "parent": chain["parent"], "checkpoint": chain["checkpoint"],
        "kind_detail": chain["detail"],
        "disks": [dict(d, file=final_file(d["target"]), virtual_size=sizes[d["target"]]["virtual"],
                       bytes=sizes[d["target"]]["actual"]) for d in disks],
        "domain_xml": domain_xml,
    }


def read_manifest(text, vm=None):
    """A manifest's dict; BackupError when it is not one or is another VM's."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BackupError("the backup's %s does not parse: %s" % (MANIFEST, exc))
    if not isinstance(data, dict) or data.get("format") not in FORMATS or not data.get("disks"):
        raise BackupError("the backup's %s is not a havirt backup manifest (format %s)"
                          % (MANIFEST, " or ".join(str(f) for f in FORMATS)))
    if data.get("kind", FULL) == INCREMENTAL and not data.get("parent"):
        raise BackupError("the backup's %s says incremental and names no parent backup" % MANIFEST)
    if vm is not None and data.get("vm") != vm:
        raise BackupError("this backup is of %s, not of %s: name the VM it was taken of (restore.yml -e vm=%s), "
                          "and the VM to write it onto with -e as=NAME" % (data.get("vm"), vm, data.get("vm")))
    return data


def restore_plan(backup, current_disks, vm=None):
    """Pairs (backed-up disk, current disk) by target: every disk of the
    backup must exist on ``vm``, the VM written (the backup's own VM when
    None); raises BackupError before anything is written otherwise."""
    vm = vm or backup["vm"]
    current = dict((d["target"], d) for d in current_disks)
    plan = []
    for disk in backup["disks"]:
        now = current.get(disk["target"])
        if now is None:
            if vm == backup["vm"]:
                raise BackupError("the backup has disk %s, which %s no longer has: define it again (site.yml) "
                                  "before restoring" % (disk["target"], vm))
            raise BackupError("the backup of %s has disk %s, which %s does not have: give %s that disk in "
                              "havirt_vms (site.yml) before restoring onto it" % (backup["vm"], disk["target"], vm, vm))
        plan.append((disk, now))
    return plan


def size_problems(plan, sizes, vm):
    """Each disk of ``plan`` (restore_plan) whose current size (``sizes``:
    target to bytes, from size_command's output) is smaller than the
    backed-up disk: a sentence each, empty when every disk can hold its
    backup. qemu-img writes nothing past a disk's end, so a smaller disk
    would be left truncated."""
    problems = []
    for saved, disk in plan:
        size = sizes.get(disk["target"])
        if size is not None and size < saved["virtual_size"]:
            problems.append("disk %s of %s (%s) holds %s and the backup's %s %s: grow it first (disk.size in "
                            "havirt_vms, site.yml)" % (disk["target"], vm, describe(disk["source"]), human(size),
                                                       saved["target"], human(saved["virtual_size"])))
    return problems


def _opts_escape(value):
    """A value inside qemu's option syntax: commas are doubled."""
    return str(value).replace(",", ",,")


def _lun_opts(disk, secret_file):
    """(``--object`` arguments, ``--image-opts`` string) with which qemu-img
    reaches ``disk``'s iSCSI LUN by itself, as the VM's QEMU does."""
    source = disk["source"]
    opts = ["driver=%s" % disk["format"], "file.driver=iscsi", "file.transport=tcp",
            "file.portal=%s:%s" % (_opts_escape(source["host"]), source["port"]),
            "file.target=%s" % _opts_escape(source["target"]), "file.lun=%s" % source["lun"]]
    objects = []
    if source.get("user"):
        if not secret_file:
            raise BackupError("the LUN of %s needs its CHAP secret" % disk["target"])
        opts += ["file.user=%s" % _opts_escape(source["user"]), "file.password-secret=havirt-chap"]
        objects = ["--object", "secret,id=havirt-chap,file=%s" % _opts_escape(secret_file)]
    if source.get("initiator"):
        opts.append("file.initiator-name=%s" % _opts_escape(source["initiator"]))
    return objects, ",".join(opts)


def write_command(qemu_img, backup_path, disk, secret_file=None):
    """argv of ``qemu-img convert`` writing the backed-up disk file onto
    ``disk``'s source, in its own format, without creating anything (``-n``:
    the image, device or LUN exists and keeps its size)."""
    source = disk["source"]
    if source["kind"] in ("file", "block"):
        return [qemu_img, "convert", "-p", "-n", "-f", "qcow2", backup_path, "-O", disk["format"], source["path"]]
    objects, opts = _lun_opts(disk, secret_file)
    return [qemu_img, "convert", "-p", "-n"] + objects + ["-f", "qcow2", backup_path, "--target-image-opts", opts]


def size_command(qemu_img, disk, secret_file=None):
    """argv of ``qemu-img info --output=json`` on ``disk``'s source, read as
    the VM reads it (its format): its virtual-size is what a restore can
    write (qemu_img.parse_info reads the output)."""
    source = disk["source"]
    if source["kind"] in ("file", "block"):
        return [qemu_img, "info", "--output=json", "-f", disk["format"], source["path"]]
    objects, opts = _lun_opts(disk, secret_file)
    return [qemu_img, "info", "--output=json"] + objects + ["--image-opts", opts]


def describe(source):
    """A disk source in a sentence's words."""
    if source["kind"] == "iscsi":
        return "iSCSI LUN %s/%s on %s" % (source["target"], source["lun"], source["host"])
    return source["path"]


def parent_of(names):
    """The parent backup named by the ``parent-ID`` marker among a backup
    directory's file ``names``, or None (a full backup)."""
    found = sorted(n[len(PARENT_MARKER):] for n in names if n.startswith(PARENT_MARKER))
    if len(found) > 1:
        raise BackupError("a backup names two parents: %s" % ", ".join(found))
    return found[0] if found else None


def parents_from_listing(text):
    """{id: parent or None} of the complete backups in ``rsync --list-only
    --recursive`` of a VM's directory on the backup host (how a
    hypervisor's scheduled backup reads what it can build on: rrsync lets
    it list, not run commands). Lines: permissions, size, date, time,
    path."""
    names = {}
    for line in text.splitlines():
        fields = line.split(None, 4)
        if len(fields) < 5 or fields[0].startswith("d"):
            continue
        parts = fields[4].split("/")
        if len(parts) == 2:
            names.setdefault(parts[0], []).append(parts[1])
    return dict((i, parent_of(n)) for i, n in names.items() if MANIFEST in n)


def chain_of(parents, backup_id):
    """The backups a restore of ``backup_id`` reads, the full one first:
    ``parents`` maps each complete backup to its parent (None: full).
    BackupError when a link is missing."""
    chain = [backup_id]
    while True:
        if chain[-1] not in parents:
            if len(chain) == 1:
                raise BackupError("backup %s is not complete" % backup_id)
            raise BackupError("backup %s is incremental on %s, which is not complete on the backup host: restore "
                              "another backup" % (chain[-2], chain[-1]))
        parent = parents[chain[-1]]
        if parent is None:
            return list(reversed(chain))
        if parent in chain:
            raise BackupError("backup %s's chain loops at %s" % (backup_id, parent))
        chain.append(parent)


def restorable(parents):
    """The complete backups whose whole chain is there, oldest first."""
    out = []
    for backup_id in sorted(parents):
        try:
            chain_of(parents, backup_id)
        except BackupError:
            continue
        out.append(backup_id)
    return out


def next_parent(parents, full_every):
    """(parent id or None, why) of the next backup of a VM whose complete
    backups are ``parents``: the newest restorable one, unless its chain
    already holds ``full_every`` backups (then a full copy starts a new
    chain, which retention can delete the old one after)."""
    newest = restorable(parents)
    if not newest:
        return None, "no earlier backup of this VM to build on"
    length = len(chain_of(parents, newest[-1]))
    if length >= full_every:
        return None, "the chain of %s already holds %d backup(s) (full_every %d)" % (newest[-1], length, full_every)
    return newest[-1], "on %s" % newest[-1]


def expired(ids, keep, parents=None):
    """The backup ids to delete so that the ``keep`` newest stay (ids sort
    as their time: YYYYmmddTHHMMSSZ), with every backup they are
    incremental on (``parents``: each complete backup's parent, None for a
    full one; all full when not given); ``.partial`` leftovers and
    incrementals whose chain is broken are expired."""
    if keep < 1:
        raise BackupError("keep is %d: keep at least 1 backup" % keep)
    complete = sorted(i for i in ids if not i.endswith(".partial"))
    parents = dict(parents) if parents is not None else {}
    for backup_id in complete:
        parents.setdefault(backup_id, None)
    kept = set()
    for backup_id in restorable(parents)[-keep:]:
        kept.update(chain_of(parents, backup_id))
    return [i for i in ids if i.endswith(".partial")] + [i for i in complete if i not in kept]


def send_commands(scratch_dir, vm, backup_id, rsh, destination):
    """The rsync command lines that send one backup from the hypervisor's
    ``scratch_dir``/``vm``/``backup_id`` to ``destination`` (the backup
    host's rrsync, reached with the ssh command ``rsh``), where it arrives
    as ``vm``/``backup_id``: the disks first, the manifest last, so a
    backup is complete on the backup host once its manifest is there
    (rsync alone would send it first, by name). Each copy sent is removed
    from the scratch directory; what stays there was not sent. Used by
    backup.yml and by the hypervisors' scheduled backups alike."""
    check_id(backup_id)
    if not vm or "/" in vm or vm in (".", ".."):
        raise BackupError("%r is not a VM name" % (vm,))
    source = posixpath.join(scratch_dir, ".", vm, backup_id)
    return [["rsync", "--archive", "--relative", "--remove-source-files", "--rsh=" + rsh.strip(),
             which, source, destination]
            for which in ("--exclude=" + MANIFEST, "--include=" + MANIFEST)]


def scheduled(vms, running):
    """The VMs of the cluster (``vms``: names, in the inventory's order)
    that run on this host (``running``: libvirt's active domains): what a
    hypervisor's scheduled backup takes."""
    here = set(running)
    return [name for name in vms if name in here]


def prune_plan(entries, keep, now, stale_after_s=86400):
    """What the backup host's retention deletes in one VM's directory:
    ``entries`` are (id, complete, mtime[, parent]) of its subdirectories,
    complete when their manifest arrived, parent the backup an incremental
    one builds on (parent_of). The complete ones beyond the ``keep`` newest
    go, but for those a kept one builds on, and an incomplete one (an
    interrupted transfer: the manifest is sent last) once it is older than
    ``stale_after_s``, if its name is a time as the backups' ids are (a
    transfer in progress is younger). Anything else is left alone."""
    complete = {}
    stale = []
    for entry in entries:
        backup_id, done, mtime = entry[:3]
        if done and _ID.match(backup_id) and not backup_id.endswith(".partial"):
            complete[backup_id] = entry[3] if len(entry) > 3 else None
        elif not done and _TIME_ID.match(backup_id) and now - mtime > stale_after_s:
            stale.append(backup_id)
    return sorted(stale) + expired(sorted(complete), keep, complete)
