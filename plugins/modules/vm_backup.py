#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: vm_backup
short_description: Full or incremental backup of a running VM's disks, file systems frozen when its agent answers
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
  - >-
    Incremental (O(incremental), O(parent)): when every disk is a qcow2 image, a backup leaves a dirty bitmap
    in it, named after the backup (C(havirt-ID)); the next backup given that backup as O(parent) copies only
    the clusters written since, into a qcow2 whose backing file is the parent's copy (C(../PARENT/vda.qcow2):
    the backups of a VM sit side by side on the backup host), and the directory holds an empty C(parent-PARENT)
    file naming it. libvirt forgets a transient domain's checkpoints when it stops or moves, so none is left
    in libvirt: the parent's is redefined from the bitmap, which libvirt first checks is there and consistent
    (a crash leaves it inconsistent); when it is not, the backup is a full copy and the manifest says why.
    A raw disk, a DRBD device or a LUN holds no bitmap: full copies. Bitmaps of backups that never reached the
    backup host are removed once QEMU has written them to the image (after the VM stopped or moved).
  - QEMU/KVM hosts (libvirt's C(qemu) driver).
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
  incremental:
    description:
      - Leave a dirty bitmap in qcow2 disks for the next backup, and build on O(parent) when it is given.
      - V(false) makes full copies and leaves no bitmap.
    type: bool
    default: false
  parent:
    description:
      - The id of the backup to build on (the VM's newest complete backup on the backup host); it must have
        left its bitmap (O(incremental)). Without it, the backup is full.
    type: str
  parent_detail:
    description: Why there is no O(parent), for the manifest (e.g. V(no earlier backup to build on)).
    type: str
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

- name: Back up masterauth (a qcow2 image) with what changed since its last backup
  havirt.cluster.vm_backup:
    name: masterauth
    id: 20261205T023000Z
    incremental: true
    parent: 20261204T023000Z
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
    kind: incremental
    parent: 20261203T075100Z
    checkpoint: havirt-20261204T075100Z
    kind_detail: what changed since backup 20261203T075100Z
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

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.havirt.cluster.plugins.module_utils.libvirt_connection import open_or_fail
from ansible_collections.havirt.cluster.plugins.module_utils import vm_backup as vb
from ansible_collections.havirt.cluster.plugins.module_utils.vm_backup_job import take_backup

try:
    import libvirt
    HAS_LIBVIRT = True
except ImportError:
    HAS_LIBVIRT = False


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            id=dict(type="str", required=True),
            directory=dict(type="path", default="/var/lib/havirt/backup"),
            freeze=dict(type="bool", default=True),
            timeout=dict(type="int", default=3600),
            incremental=dict(type="bool", default=False),
            parent=dict(type="str"),
            parent_detail=dict(type="str"),
            uri=dict(type="str", default="qemu:///system"),
        ),
        supports_check_mode=True,
    )
    if not HAS_LIBVIRT:
        module.fail_json(msg=missing_required_lib("libvirt-python (Debian: python3-libvirt)"))
    params = module.params
    try:
        backup_id = vb.check_id(params["id"])
        if params["parent"]:
            vb.check_id(params["parent"])
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
        settings = {"freeze": params["freeze"], "timeout": params["timeout"],
                    "qemu_img": module.get_bin_path("qemu-img", required=True),
                    "incremental": params["incremental"], "parent": params["parent"],
                    "parent_detail": params["parent_detail"]}
        data, seconds = take_backup(libvirt, dom, params["name"], path, disks, settings, module.run_command,
                                    module.warn)
    except vb.BackupError as exc:
        module.fail_json(msg=str(exc))
    except libvirt.libvirtError as exc:
        module.fail_json(msg="libvirt failed during the backup of %s: %s; the VM kept running"
                             % (params["name"], exc))
    finally:
        conn.close()
    module.exit_json(changed=True, path=path, manifest=data, seconds=seconds)


if __name__ == "__main__":
    main()
