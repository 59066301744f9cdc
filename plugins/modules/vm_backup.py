#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: vm_backup
short_description: Full backup of a running VM's disks, with the guest's file systems frozen when its agent answers
version_added: 0.1.0
author: havirt.cluster contributors (@havirt)
description:
  - >-
    On the hypervisor where the VM runs: asks libvirt for a push-mode backup (C(virDomainBackupBegin)) of every
    writable disk of the domain (an image file, a block device such as a DRBD resource, or an iSCSI LUN) into
    O(directory)/O(name)/O(id), while the VM keeps running; then compresses each copy (qcow2, zstd), checks it
    (C(qemu-img check)) and writes a C(manifest.json) that says what was copied and how consistent it is. M(havirt.cluster.vm_restore) writes it
    back.
  - >-
    Consistency: when the VM's qemu-guest-agent answers, its file systems are frozen (C(guest-fsfreeze-freeze))
    while the backup begins and thawed at once, since QEMU's backup job copies the disks as they were when it
    began; the manifest says V(filesystems frozen). Without an answering agent the copy is what a power cut would
    have left (V(crash-consistent)), and the manifest says why.
  - >-
    A backup whose manifest exists is complete: asking again for the same O(id) changes nothing. A backup that
    failed or was interrupted leaves C(ID.partial), removed by the next try. A failed backup never stops or
    pauses the VM.
  - Full copies only (no dirty-bitmap increments); QEMU/KVM hosts (libvirt's C(qemu) driver).
options:
  name:
    description: The VM (libvirt domain) to back up; it must run on this host.
    type: str
    required: true
  id:
    description: The backup's id, its directory's name (the playbook gives the time, e.g. V(20261204T075100Z)).
    type: str
    required: true
  directory:
    description: Where the backup is written on this host (O(name)/O(id) below it).
    type: path
    default: /var/lib/havirt/backup
  freeze:
    description: Freeze the guest's file systems through its agent while the backup begins (when it answers).
    type: bool
    default: true
  timeout:
    description: Seconds the copy may take before it is aborted (the VM keeps running).
    type: int
    default: 3600
  uri:
    description: libvirt URI of this host.
    type: str
    default: qemu:///system
requirements:
  - libvirt-python on the hypervisor (python3-libvirt), libvirt 6.0 or later
  - qemu-img (qemu-utils)
attributes:
  check_mode:
    description: Says whether a backup would be taken, and of which disks; copies nothing.
    support: full
  diff_mode:
    description: No file is changed, only a new backup written.
    support: none
seealso:
  - module: havirt.cluster.vm_restore
"""

EXAMPLES = r"""
- name: Back up passata where it runs
  havirt.cluster.vm_backup:
    name: passata
    id: "{{ now(utc=true, fmt='%Y%m%dT%H%M%SZ') }}"
  register: backup
"""

RETURN = r"""
path:
  description: The backup's directory on this host.
  returned: success
  type: str
  sample: /var/lib/havirt/backup/passata/20261204T075100Z
manifest:
  description: What the backup's manifest.json says (without the domain's XML).
  returned: success, not in check mode
  type: dict
  sample:
    vm: passata
    id: 20261204T075100Z
    consistency: crash-consistent
    consistency_detail: "the guest agent could not freeze: QEMU guest agent is not connected"
    disks: [{target: vda, format: raw, file: vda.qcow2, virtual_size: 67108864, bytes: 1245184}]
disks:
  description: In check mode, the disks (targets) a backup would copy.
  returned: check mode
  type: list
  elements: str
  sample: [vda]
seconds:
  description: How long the copy and its compression took.
  returned: changed, not in check mode
  type: float
"""

import json
import os
import shutil
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.havirt.cluster.plugins.module_utils.libvirt_connection import open_or_fail
from ansible_collections.havirt.cluster.plugins.module_utils import qemu_img as image
from ansible_collections.havirt.cluster.plugins.module_utils import vm_backup as vb

try:
    import libvirt
    HAS_LIBVIRT = True
except ImportError:
    HAS_LIBVIRT = False


def _utc(when):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def _freeze(dom):
    try:
        return vb.freeze_verdict(frozen=dom.fsFreeze())
    except libvirt.libvirtError as exc:
        return vb.freeze_verdict(error=str(exc))


def _wait(dom, timeout):
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


def _info(module, qemu_img, path):
    rc, out, err = module.run_command([qemu_img, "info", "--output=json", "-U", path])
    if rc != 0:
        module.fail_json(msg="qemu-img info %s failed: %s" % (path, err.strip()))
    try:
        info = image.parse_info(out)
    except image.ImageError as exc:
        module.fail_json(msg=str(exc))
    return {"virtual": info["virtual_size"], "actual": os.path.getsize(path)}


def _take(module, dom, disks, partial, qemu_img):
    """The copy, frozen around its start, then compressed; returns the
    manifest's consistency and sizes. Fails the module (the VM running)."""
    xml = vb.backup_xml(dom.XMLDesc(0), disks, partial)
    frozen = module.params["freeze"] and dom.isActive()
    consistency = vb.freeze_verdict(error="not asked (freeze: false)")
    if frozen:
        consistency = _freeze(dom)
    try:
        dom.backupBegin(xml, None, 0)
    except libvirt.libvirtError as exc:
        module.fail_json(msg="libvirt refused to begin the backup of %s: %s" % (module.params["name"], exc))
    finally:
        if consistency[0] == vb.CONSISTENT:
            try:
                dom.fsThaw()
            except libvirt.libvirtError as exc:
                module.warn("could not thaw %s's file systems: %s; run virsh domfsthaw %s"
                            % (module.params["name"], exc, module.params["name"]))
    problem = _wait(dom, module.params["timeout"])
    if problem:
        module.fail_json(msg="the backup of %s %s; the VM kept running" % (module.params["name"], problem))
    sizes = {}
    for disk in disks:
        copy = vb.backup_file(partial, disk["target"])
        final = os.path.join(partial, vb.final_file(disk["target"]))
        rc, out, err = module.run_command([qemu_img, "convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd",
                                           copy, final])
        if rc == 0:
            # A backup nobody can read is found now, not on the day it is needed.
            rc, out, err = module.run_command([qemu_img, "check", "-q", "-f", "qcow2", final])
        if rc != 0:
            module.fail_json(msg="the copy of %s's disk %s could not be compressed and checked (%s); nothing was "
                                 "sent, the VM kept running" % (module.params["name"], disk["target"], err.strip()))
        os.unlink(copy)
        sizes[disk["target"]] = _info(module, qemu_img, final)
    return consistency, sizes


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            id=dict(type="str", required=True),
            directory=dict(type="path", default="/var/lib/havirt/backup"),
            freeze=dict(type="bool", default=True),
            timeout=dict(type="int", default=3600),
            uri=dict(type="str", default="qemu:///system"),
        ),
        supports_check_mode=True,
    )
    if not HAS_LIBVIRT:
        module.fail_json(msg=missing_required_lib("libvirt-python (Debian: python3-libvirt)"))
    params = module.params
    try:
        backup_id = vb.check_id(params["id"])
    except vb.BackupError as exc:
        module.fail_json(msg=str(exc))
    if params["timeout"] < 1:
        module.fail_json(msg="timeout is %d: give 1 second or more" % params["timeout"])
    path = os.path.join(params["directory"], params["name"], backup_id)
    manifest_path = os.path.join(path, vb.MANIFEST)
    if os.path.exists(manifest_path):
        with open(manifest_path) as handle:
            done = vb.read_manifest(handle.read(), params["name"])
        done.pop("domain_xml", None)
        module.exit_json(changed=False, path=path, manifest=done)

    conn = open_or_fail(module, libvirt, params["uri"])
    try:
        try:
            dom = conn.lookupByName(params["name"])
        except libvirt.libvirtError:
            module.fail_json(msg="%s is not defined on this host: name a VM of the inventory" % params["name"])
        if not dom.isActive():
            module.fail_json(msg="%s does not run on this host: back it up where the cluster runs it "
                                 "(crm_resource --locate --resource vm-%s)" % (params["name"], params["name"]))
        try:
            disks = vb.disks_of(dom.XMLDesc(0))
        except vb.BackupError as exc:
            module.fail_json(msg=str(exc))
        if module.check_mode:
            module.exit_json(changed=True, path=path, disks=[d["target"] for d in disks])
        qemu_img = module.get_bin_path("qemu-img", required=True)
        partial = path + ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        # QEMU (the libvirt-qemu user) opens the copy libvirt creates here.
        os.makedirs(partial, mode=0o711)
        os.chmod(partial, 0o711)
        started = time.time()
        consistency, sizes = _take(module, dom, disks, partial, qemu_img)
        ended = time.time()
        data = vb.manifest(params["name"], backup_id, _utc(started), _utc(ended), consistency[0], consistency[1],
                           disks, dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE), sizes)
        with open(os.path.join(partial, vb.MANIFEST), "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
        os.chmod(partial, 0o700)
        os.rename(partial, path)
    except libvirt.libvirtError as exc:
        module.fail_json(msg="libvirt failed during the backup of %s: %s; the VM kept running"
                             % (params["name"], exc))
    finally:
        conn.close()
    data.pop("domain_xml")
    module.exit_json(changed=True, path=path, manifest=data, seconds=round(ended - started, 1))


if __name__ == "__main__":
    main()
