# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One backup of a running domain, start to finish: libvirt's push-mode
backup job (file systems frozen around its start when the guest agent
answers), each copy compressed and checked with qemu-img, the manifest
written last and the directory renamed from ``ID.partial`` to ``ID``.

Used by the module havirt.cluster.vm_backup (backup.yml) and by the
hypervisors' scheduled backup (the backup role's ``havirt-backup``, which
runs it without Ansible): both give the commands' runner and the warning
sink. Failures raise vm_backup.BackupError with a message that says what
happened to the VM (it keeps running)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import shutil
import time

from ansible_collections.havirt.cluster.plugins.module_utils import qemu_img as image
from ansible_collections.havirt.cluster.plugins.module_utils import vm_backup as vb


def utc(when):
    """A time as the manifest writes it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def backup_id(when=None):
    """The id of a backup that begins now (UTC): its directory's name."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if when is None else when))


def _freeze(libvirt, dom):
    try:
        return vb.freeze_verdict(frozen=dom.fsFreeze())
    except libvirt.libvirtError as exc:
        return vb.freeze_verdict(error=str(exc))


def _wait(libvirt, dom, timeout):
    """Until libvirt's backup job ends; its completed stats say how."""
    deadline = time.time() + timeout
    while dom.jobInfo()[0] != libvirt.VIR_DOMAIN_JOB_NONE:
        if time.time() > deadline:
            try:
                dom.abortJob()
            except libvirt.libvirtError:
                pass
            return "did not end within %d s and was aborted (raise timeout for a large disk)" % timeout
        time.sleep(0.5)
    stats = dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
    if stats.get("type") == libvirt.VIR_DOMAIN_JOB_FAILED:
        return "failed: %s" % stats.get("errmsg", "libvirt gave no reason")
    if stats.get("type") == libvirt.VIR_DOMAIN_JOB_CANCELLED:
        return "was cancelled (virsh domjobabort?)"
    return None


def _info(run, qemu_img, path):
    rc, out, err = run([qemu_img, "info", "--output=json", "-U", path])
    if rc != 0:
        raise vb.BackupError("qemu-img info %s failed: %s" % (path, err.strip()))
    try:
        info = image.parse_info(out)
    except image.ImageError as exc:
        raise vb.BackupError(str(exc))
    return {"virtual": info["virtual_size"], "actual": os.path.getsize(path)}


def _checkpoints(libvirt, dom):
    """The names of the checkpoints libvirt knows for ``dom`` here."""
    try:
        return [cp.getName() for cp in dom.listAllCheckpoints(0)]
    except libvirt.libvirtError:
        return []


def _drop_checkpoint(libvirt, dom, name, keep_bitmap, warn):
    """Forget checkpoint ``name`` here: its metadata only (the bitmap stays
    in the qcow2 for the next backup) or the bitmap too."""
    try:
        cp = dom.checkpointLookupByName(name, 0)
    except libvirt.libvirtError:
        return
    flags = libvirt.VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY if keep_bitmap else 0
    try:
        cp.delete(flags)
    except libvirt.libvirtError as exc:
        try:
            cp.delete(libvirt.VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY)
        except libvirt.libvirtError:
            pass
        if not keep_bitmap:
            warn("the dirty bitmap %s of %s could not be removed: %s" % (name, dom.name(), exc))


def _drop_stale(libvirt, dom, disks, keep, run, qemu_img, warn):
    """Remove the havirt dirty bitmaps in the disks but ``keep`` (a backup
    that never reached the backup host left them): libvirt removes a bitmap
    only through a checkpoint it knows, so each is redefined, then deleted."""
    domain_xml = dom.XMLDesc(0)
    for name in _checkpoints(libvirt, dom):
        if name.startswith(vb.CHECKPOINT_PREFIX) and name not in keep:
            _drop_checkpoint(libvirt, dom, name, False, warn)
    stale = set()
    for disk in disks:
        rc, out, err = run([qemu_img, "info", "--output=json", "-U", "-f", "qcow2", disk["source"]["path"]])
        if rc != 0:
            warn("cannot list the dirty bitmaps of %s: %s" % (disk["source"]["path"], err.strip()))
            continue
        stale.update(vb.stale_bitmaps(out, keep))
    for name in sorted(stale):
        try:
            dom.checkpointCreateXML(vb.checkpoint_xml(domain_xml, disks, name, time.time()),
                                    libvirt.VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE)
        except libvirt.libvirtError as exc:
            warn("the stale dirty bitmap %s of %s stays: %s" % (name, dom.name(), exc))
            continue
        _drop_checkpoint(libvirt, dom, name, False, warn)


def _chain(libvirt, dom, disks, backup_id, settings, run, warn):
    """What this backup is: {kind, parent, checkpoint (the one it leaves,
    or None), detail}; the parent's checkpoint is redefined here when the
    backup builds on it."""
    if not settings.get("incremental"):
        return {"kind": vb.FULL, "parent": None, "checkpoint": None, "detail": "incremental backups are off"}
    problem = vb.incremental_problem(disks)
    if problem:
        return {"kind": vb.FULL, "parent": None, "checkpoint": None, "detail": problem}
    parent = settings.get("parent") or None
    keep = [vb.checkpoint_name(parent)] if parent else []
    _drop_stale(libvirt, dom, disks, keep, run, settings["qemu_img"], warn)
    chain = {"kind": vb.FULL, "parent": None, "checkpoint": vb.checkpoint_name(backup_id)}
    if not parent:
        chain["detail"] = settings.get("parent_detail") or "no earlier backup to build on"
        return chain
    if keep[0] not in _checkpoints(libvirt, dom):
        try:
            dom.checkpointCreateXML(vb.checkpoint_xml(dom.XMLDesc(0), disks, keep[0], time.time()),
                                    libvirt.VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE
                                    | libvirt.VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE_VALIDATE)
        except libvirt.libvirtError as exc:
            chain["detail"] = ("a full copy: the dirty bitmap of backup %s cannot be used (%s)"
                               % (parent, str(exc).strip()))
            _drop_checkpoint(libvirt, dom, keep[0], True, warn)
            return chain
    chain.update(kind=vb.INCREMENTAL, parent=parent, detail="what changed since backup %s" % parent)
    return chain


def _compress(run, qemu_img, partial, disk, chain):
    """libvirt's copy of one disk, compressed and checked into its final
    file (an incremental one backed by its parent's)."""
    copy = vb.backup_file(partial, disk["target"])
    final = os.path.join(partial, vb.final_file(disk["target"]))
    if chain["kind"] == vb.INCREMENTAL:
        stub = os.path.join(partial, "%s.stub.qcow2" % disk["target"])
        size = _info(run, qemu_img, copy)["virtual"]
        steps = vb.incremental_commands(qemu_img, copy, final, stub,
                                        vb.parent_file(chain["parent"], disk["target"]), size)
    else:
        stub = None
        steps = [[qemu_img, "convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd", copy, final],
                 # A backup nobody can read is found now, not on the day it is needed.
                 [qemu_img, "check", "-q", "-f", "qcow2", final]]
    for argv in steps:
        rc, out, err = run(argv)
        if rc != 0:
            return err.strip() or out.strip()
    os.unlink(copy)
    if stub:
        os.unlink(stub)
    return None


def _take(libvirt, dom, name, disks, partial, settings, run, warn, chain):
    """The copy, frozen around its start, then compressed; returns the
    manifest's consistency and sizes."""
    domain_xml = dom.XMLDesc(0)
    xml = vb.backup_xml(domain_xml, disks, partial,
                        incremental=vb.checkpoint_name(chain["parent"]) if chain["parent"] else None)
    checkpoint = vb.checkpoint_xml(domain_xml, disks, chain["checkpoint"]) if chain["checkpoint"] else None
    consistency = vb.freeze_verdict(error="not asked (freeze: false)")
    if settings["freeze"] and dom.isActive():
        consistency = _freeze(libvirt, dom)
    try:
        dom.backupBegin(xml, checkpoint, 0)
    except libvirt.libvirtError as exc:
        raise vb.BackupError("libvirt refused to begin the backup of %s: %s" % (name, exc))
    finally:
        if consistency[0] == vb.CONSISTENT:
            try:
                dom.fsThaw()
            except libvirt.libvirtError as exc:
                warn("could not thaw %s's file systems: %s; run virsh domfsthaw %s" % (name, exc, name))
    problem = _wait(libvirt, dom, settings["timeout"])
    if problem:
        raise vb.BackupError("the backup of %s %s; the VM kept running" % (name, problem))
    sizes = {}
    qemu_img = settings["qemu_img"]
    for disk in disks:
        problem = _compress(run, qemu_img, partial, disk, chain)
        if problem:
            raise vb.BackupError("the copy of %s's disk %s could not be compressed and checked (%s); nothing was "
                                 "sent, the VM kept running" % (name, disk["target"], problem))
        sizes[disk["target"]] = _info(run, qemu_img, os.path.join(partial, vb.final_file(disk["target"])))
    if chain["parent"]:
        with open(os.path.join(partial, vb.PARENT_MARKER + chain["parent"]), "w"):
            pass
    return consistency, sizes


def take_backup(libvirt, dom, name, path, disks, settings, run, warn):
    """A backup of the running domain ``dom`` into ``path`` (its id the
    last part): written into ``path.partial`` (removed first: a failed try's
    leftovers), renamed to ``path`` once its manifest is there. ``settings``:
    freeze (bool), timeout (s), qemu_img (its path), incremental (bool:
    qcow2 disks keep a dirty bitmap for the next backup), parent (the id of
    the backup to build on, complete on the backup host; None: a full
    copy), parent_detail (why there is none). ``run(argv)`` returns (rc,
    stdout, stderr); ``warn(text)`` reports what did not stop the backup.
    Returns (manifest without the domain XML, seconds).

    A backup leaves its checkpoint's bitmap in the qcow2 disks and no
    checkpoint in libvirt (a transient domain's checkpoints are forgotten
    when it stops or moves, and a domain with checkpoints cannot be
    undefined): the next backup redefines it, after checking the bitmap
    is there and consistent (not after a crash), or makes a full copy."""
    partial = path + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    # QEMU (the libvirt-qemu user) opens the copy libvirt creates here.
    os.makedirs(partial, mode=0o711)
    os.chmod(partial, 0o711)
    started = time.time()
    backup_id = os.path.basename(path)
    chain = _chain(libvirt, dom, disks, backup_id, settings, run, warn)
    parent_checkpoint = vb.checkpoint_name(chain["parent"]) if chain["parent"] else None
    try:
        consistency, sizes = _take(libvirt, dom, name, disks, partial, settings, run, warn, chain)
    except Exception:
        # The bitmap made for this backup goes; the parent's stays for the next try.
        if chain["checkpoint"]:
            _drop_checkpoint(libvirt, dom, chain["checkpoint"], False, warn)
        if parent_checkpoint:
            _drop_checkpoint(libvirt, dom, parent_checkpoint, True, warn)
        raise
    if parent_checkpoint:
        _drop_checkpoint(libvirt, dom, parent_checkpoint, False, warn)
    if chain["checkpoint"]:
        _drop_checkpoint(libvirt, dom, chain["checkpoint"], True, warn)
    ended = time.time()
    data = vb.manifest(name, backup_id, utc(started), utc(ended), consistency[0], consistency[1],
                       disks, dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE), sizes, chain)
    with open(os.path.join(partial, vb.MANIFEST), "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
    os.chmod(partial, 0o700)
    os.rename(partial, path)
    data.pop("domain_xml")
    return data, round(ended - started, 1)
