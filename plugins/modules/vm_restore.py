#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: vm_restore
short_description: Write a VM's backup onto its disks, or onto another VM's, while that VM is stopped
version_added: 0.1.0
author: havirt.cluster contributors (@havirt)
description:
  - >-
    Reads the C(manifest.json) of a backup M(havirt.cluster.vm_backup) took (in O(path) on this host) and writes
    each backed-up disk onto the disk of the same target (vda...) of the VM O(name) as this host's libvirt
    defines it now: an image file, a block device (a DRBD resource, a LUN the kernel logged in to) or an iSCSI
    LUN QEMU reaches by itself (with the CHAP password the vms role wrote for it). C(qemu-img convert -n):
    nothing is created or resized. The havirt dirty bitmaps of a qcow2 disk written are removed: the next
    backup of the VM is a full copy.
  - >-
    O(name) is the VM the backup was taken of, or another VM (O(backup_of) names the backup's): a restore beside
    the original, onto a VM of its own with disks at least as big.
  - >-
    Refuses, before writing anything, when the VM runs on this host, when the backup is not of O(backup_of),
    when the VM lacks one of the backup's disks, or when one of its disks is smaller than the backed-up one
    (C(qemu-img info) reads each disk's size as the VM would). The playbook (restore.yml) stops the VM through the cluster
    first, on every hypervisor, and starts it again afterwards.
  - >-
    An incremental backup (its manifest says C(kind: incremental)) is read through its chain: each disk file's
    backing file is its parent's (C(../PARENT/vda.qcow2)), so the parents' directories must sit beside O(path),
    down to the full copy; the module checks they are all there before writing.
  - Always writes (a restore is asked on purpose); check mode says what would be written.
options:
  name:
    description: The VM (libvirt domain) whose disks are written; defined and not running on this host.
    type: str
    required: true
  backup_of:
    description:
      - The VM the backup was taken of, as its manifest says; when it is not O(name), the backup is written onto
        O(name)'s disks (restore as another VM). Defaults to O(name).
    type: str
  path:
    description:
      - The backup's directory on this host (its manifest.json and one compressed qcow2 per disk).
      - For an incremental backup, the backups it builds on sit beside it (C(PATH/../PARENT)).
    type: path
    required: true
  xml_file:
    description:
      - >-
        The VM's domain XML, read for its disks when libvirt here has no definition of the VM (a VM the cluster
        manages is transient: defined only while it runs). A definition libvirt has comes first.
    type: path
  chap_file:
    description:
      - The file with the CHAP password of the VMs' iSCSI LUNs (written 0600 by the vms role; libvirt's own copy is
        private and cannot be read back). Read by qemu-img only, for a LUN QEMU reaches by itself.
    type: path
    default: /etc/havirt/secrets/iscsi-chap
  uri:
    description: libvirt URI of this host.
    type: str
    default: qemu:///system
requirements:
  - libvirt-python on the hypervisor (python3-libvirt)
  - qemu-img (qemu-utils; qemu-block-extra for a LUN QEMU reaches by itself)
attributes:
  check_mode:
    description: Says which disk would be written from which file; writes nothing.
    support: full
  diff_mode:
    description: A disk's content is not shown.
    support: none
seealso:
  - module: havirt.cluster.vm_backup
"""

EXAMPLES = r"""
- name: Write passata's backup back onto its disks
  havirt.cluster.vm_restore:
    name: passata
    path: /var/lib/havirt/restore/passata/20261204T075100Z

- name: Write passata's backup onto passata-copy, a VM of its own beside passata
  havirt.cluster.vm_restore:
    name: passata-copy
    backup_of: passata
    path: /var/lib/havirt/restore/passata/20261204T075100Z
    xml_file: /etc/havirt/vms/passata-copy.xml
"""

RETURN = r"""
written:
  description: Each disk written, with what it was written from and the dirty bitmaps removed from it.
  returned: success
  type: list
  elements: dict
  sample: [{target: vda, to: "iSCSI LUN iqn.2026-01.lab.havirt:servdb.vms/2 on 10.210.1.10", from: vda.qcow2, bitmaps_removed: []}]
consistency:
  description: What the backup's manifest says of its consistency.
  returned: success
  type: str
  sample: crash-consistent
touched:
  description:
    - Whether a disk was written (in part or whole). On a failure, false means every disk is as it was
      (restore.yml then lets the cluster start the VM again); true means the disk of C(failed_disk) was
      partly written and must not boot before another restore.
  returned: success, and a failure while writing
  type: bool
  sample: false
failed_disk:
  description: The disk (target) whose write failed.
  returned: failure while writing
  type: str
  sample: vda
"""

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.havirt.cluster.plugins.module_utils.libvirt_connection import open_or_fail
from ansible_collections.havirt.cluster.plugins.module_utils import vm_backup as vb
from ansible_collections.havirt.cluster.plugins.module_utils.qemu_img import ImageError, parse_info

try:
    import libvirt
    HAS_LIBVIRT = True
except ImportError:
    HAS_LIBVIRT = False


def _definition(module, conn):
    """The VM's domain XML: libvirt's definition here, else the file the
    cluster starts it from; refused while the VM runs here."""
    params = module.params
    try:
        dom = conn.lookupByName(params["name"])
    except libvirt.libvirtError:
        dom = None
    if dom is not None and dom.isActive():
        module.fail_json(msg="%s runs on this host: stop it through the cluster first (restore.yml does)"
                             % params["name"])
    if dom is not None:
        return dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    if params["xml_file"] and os.path.exists(params["xml_file"]):
        with open(params["xml_file"]) as handle:
            return handle.read()
    module.fail_json(msg="%s is not defined on this host and %s does not exist: run site.yml first"
                         % (params["name"], params["xml_file"] or "no xml_file was given"))


def _secret(module, disk):
    """The CHAP password file for a LUN QEMU reaches with CHAP, else None."""
    if not disk["source"].get("user"):
        return None
    secret = module.params["chap_file"]
    if not os.path.exists(secret):
        module.fail_json(msg="the LUN of %s needs its CHAP password, and %s does not exist (run site.yml "
                             "--tags vms)" % (disk["target"], secret))
    return secret


def _sizes(module, qemu_img, plan, secrets):
    """Each planned disk's size as the VM reads it (qemu-img info)."""
    sizes = {}
    for saved, disk in plan:
        rc, out, err = module.run_command(vb.size_command(qemu_img, disk, secrets[disk["target"]]))
        if rc != 0:
            module.fail_json(msg="cannot read the size of %s (disk %s of %s): %s"
                                 % (vb.describe(disk["source"]), disk["target"], module.params["name"], err.strip()))
        try:
            sizes[disk["target"]] = parse_info(out)["virtual_size"]
        except ImageError as exc:
            module.fail_json(msg=str(exc))
    return sizes


def _drop_bitmaps(module, qemu_img, disk):
    """The havirt dirty bitmaps of a qcow2 disk just written: they tracked
    a history the restore replaced, so the next backup of the VM is a full
    copy (vm_backup finds its parent's bitmap gone)."""
    if vb.incremental_problem([disk]):
        # Not a qcow2 file or device: no bitmap there.
        return []
    path = disk["source"]["path"]
    rc, out, err = module.run_command([qemu_img, "info", "--output=json", "-f", "qcow2", path])
    names = vb.stale_bitmaps(out) if rc == 0 else []
    for name in names:
        rc, out, err = module.run_command([qemu_img, "bitmap", "--remove", "-f", "qcow2", path, name])
        if rc != 0:
            module.warn("the dirty bitmap %s of %s stays (%s): remove it (qemu-img bitmap --remove %s %s) before "
                        "the next backup, or that backup may miss what the restore wrote"
                        % (name, path, err.strip(), path, name))
    return names


def _check_chain(module, backup):
    """An incremental backup reads its disks through its parents' (their
    files are the backing files of its own): each must be there, fetched
    beside it, before anything is stopped or written."""
    path = module.params["path"]
    while backup.get("kind", vb.FULL) == vb.INCREMENTAL:
        parent = os.path.join(os.path.dirname(path.rstrip("/")), backup["parent"])
        manifest_path = os.path.join(parent, vb.MANIFEST)
        if not os.path.exists(manifest_path):
            module.fail_json(msg="backup %s is incremental on %s, and %s is not here: fetch the whole chain beside "
                                 "it (restore.yml does)" % (backup["id"], backup["parent"], parent))
        with open(manifest_path) as handle:
            parent_backup = vb.read_manifest(handle.read(), backup["vm"])
        for disk in parent_backup["disks"]:
            if not os.path.exists(os.path.join(parent, disk["file"])):
                module.fail_json(msg="backup %s lacks %s (its manifest lists it): it is incomplete"
                                     % (parent_backup["id"], disk["file"]))
        path, backup = parent, parent_backup


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            backup_of=dict(type="str"),
            path=dict(type="path", required=True),
            xml_file=dict(type="path"),
            chap_file=dict(type="path", default="/etc/havirt/secrets/iscsi-chap"),
            uri=dict(type="str", default="qemu:///system"),
        ),
        supports_check_mode=True,
    )
    if not HAS_LIBVIRT:
        module.fail_json(msg=missing_required_lib("libvirt-python (Debian: python3-libvirt)"))
    params = module.params
    manifest_path = os.path.join(params["path"], vb.MANIFEST)
    if not os.path.exists(manifest_path):
        module.fail_json(msg="%s has no %s: name a backup that backup.yml completed" % (params["path"], vb.MANIFEST))
    conn = open_or_fail(module, libvirt, params["uri"])
    written = []
    try:
        with open(manifest_path) as handle:
            backup = vb.read_manifest(handle.read(), params["backup_of"] or params["name"])
        plan = vb.restore_plan(backup, vb.disks_of(_definition(module, conn)), params["name"])
        for saved, disk in plan:
            if not os.path.exists(os.path.join(params["path"], saved["file"])):
                module.fail_json(msg="the backup lacks %s (its manifest lists it): it is incomplete" % saved["file"])
        _check_chain(module, backup)
        qemu_img = module.get_bin_path("qemu-img", required=True)
        secrets = dict((disk["target"], _secret(module, disk)) for saved, disk in plan)
        problems = vb.size_problems(plan, _sizes(module, qemu_img, plan, secrets), params["name"])
        if problems:
            module.fail_json(msg="; ".join(problems))
        for saved, disk in plan:
            written.append({"target": disk["target"], "to": vb.describe(disk["source"]), "from": saved["file"]})
            if module.check_mode:
                continue
            argv = vb.write_command(qemu_img, os.path.join(params["path"], saved["file"]), disk,
                                    secrets[disk["target"]])
            rc, out, err = module.run_command(argv)
            if rc != 0:
                problem = "writing %s onto %s failed: %s" % (saved["file"], vb.describe(disk["source"]), err.strip())
                module.fail_json(msg=problem, written=written[:-1], touched=True, failed_disk=disk["target"])
            written[-1]["bitmaps_removed"] = _drop_bitmaps(module, qemu_img, disk)
    except vb.BackupError as exc:
        module.fail_json(msg=str(exc))
    except libvirt.libvirtError as exc:
        module.fail_json(msg="libvirt failed while restoring %s: %s" % (params["name"], exc))
    finally:
        conn.close()
    module.exit_json(changed=True, written=written, consistency=backup["consistency"], touched=not module.check_mode)


if __name__ == "__main__":
    main()
