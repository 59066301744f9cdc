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


def _take(libvirt, dom, name, disks, partial, settings, run, warn):
    """The copy, frozen around its start, then compressed; returns the
    manifest's consistency and sizes."""
    xml = vb.backup_xml(dom.XMLDesc(0), disks, partial)
    consistency = vb.freeze_verdict(error="not asked (freeze: false)")
    if settings["freeze"] and dom.isActive():
        consistency = _freeze(libvirt, dom)
    try:
        dom.backupBegin(xml, None, 0)
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
        copy = vb.backup_file(partial, disk["target"])
        final = os.path.join(partial, vb.final_file(disk["target"]))
        rc, out, err = run([qemu_img, "convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd", copy, final])
        if rc == 0:
            # A backup nobody can read is found now, not on the day it is needed.
            rc, out, err = run([qemu_img, "check", "-q", "-f", "qcow2", final])
        if rc != 0:
            raise vb.BackupError("the copy of %s's disk %s could not be compressed and checked (%s); nothing was "
                                 "sent, the VM kept running" % (name, disk["target"], err.strip()))
        os.unlink(copy)
        sizes[disk["target"]] = _info(run, qemu_img, final)
    return consistency, sizes


def take_backup(libvirt, dom, name, path, disks, settings, run, warn):
    """A backup of the running domain ``dom`` into ``path`` (its id the
    last part): written into ``path.partial`` (removed first: a failed try's
    leftovers), renamed to ``path`` once its manifest is there. ``settings``:
    freeze (bool), timeout (s), qemu_img (its path). ``run(argv)`` returns
    (rc, stdout, stderr); ``warn(text)`` reports what did not stop the
    backup. Returns (manifest without the domain XML, seconds)."""
    partial = path + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    # QEMU (the libvirt-qemu user) opens the copy libvirt creates here.
    os.makedirs(partial, mode=0o711)
    os.chmod(partial, 0o711)
    started = time.time()
    consistency, sizes = _take(libvirt, dom, name, disks, partial, settings, run, warn)
    ended = time.time()
    data = vb.manifest(name, os.path.basename(path), utc(started), utc(ended), consistency[0], consistency[1],
                       disks, dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE), sizes)
    with open(os.path.join(partial, vb.MANIFEST), "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
    os.chmod(partial, 0o700)
    os.rename(partial, path)
    data.pop("domain_xml")
    return data, round(ended - started, 1)
