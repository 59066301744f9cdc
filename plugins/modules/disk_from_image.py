#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: disk_from_image
short_description: Write an image into a VM's blank disk (a LUN's backing store, a block device), once
version_added: 0.1.0
author: havirt.cluster contributors (@havirt)
description:
  - >-
    Writes the image O(source) (any format C(qemu-img) reads: a distribution's qcow2 cloud image, a raw image) into
    O(path), a disk that exists already and that a VM will boot from: the backing file or block device of an iSCSI
    LUN on the storage node, a DRBD device on its primary. It runs C(qemu-img convert -n -O raw), so the disk keeps
    its size and a sparse backing file stays sparse.
  - >-
    Only into a blank disk: no signature (C(wipefs), C(blkid)) and zeros in its first and last MiB, the same check as
    M(havirt.cluster.blank_device). A disk that holds anything is the VM's, whatever the image holds: it is left
    alone (RV(action) V(keep), with what it holds in RV(holds)), never overwritten.
  - >-
    A write cut short (power cut, Ctrl-C) leaves a marker file in O(state_dir), so that the next run writes the disk
    again instead of keeping a half-written disk as the VM's. After the write, C(qemu-img compare) checks the disk
    against the image before the marker goes.
  - >-
    Refuses, changing nothing, a disk smaller than the image's virtual size, a source that is not there or whose
    O(checksum) differs, and a disk of a VM that runs (O(in_use_on)). The source is read only when the disk is to
    be written: a kept disk needs neither the image nor qemu-img on the host, and check mode says V(write) for a
    blank disk whose image has not been copied yet (or whose host lacks qemu-img).
options:
  path:
    description: The VM's disk on this host (absolute), a block device or a raw file that exists.
    type: path
    required: true
  source:
    description: The image on this host (absolute).
    type: path
    required: true
  checksum:
    description:
      - >-
        V(ALGORITHM:HEX) (e.g. V(sha256:9f86d0...)) the source must have before it is written: the image you checked
        is the image the VM gets. Empty does not check.
    type: str
    default: ""
  in_use_on:
    description: The hosts where the VM that uses the disk runs now; a write is then refused (never under a guest).
    type: list
    elements: str
    default: []
  state_dir:
    description: Where the marker of a write in progress is kept (created 0700 when needed).
    type: path
    default: /var/lib/havirt/disk-writes
requirements:
  - qemu-img (Debian package qemu-utils) and util-linux (wipefs, blkid, partx) on the host; tested with QEMU 7.2
    (Debian 12) and 10.0 (Debian 13)
attributes:
  check_mode:
    description: Reads the disk and the image and says what it would do; writes nothing.
    support: full
  diff_mode:
    description: What the disk holds before and after (C(blank), or the findings), and the image written.
    support: full
notes:
  - >-
    Run it where the disk is: on the storage node for a LUN (delegate_to), on the DRBD primary for a DRBD device.
    A hypervisor with a kernel iSCSI session to the LUN may have cached its blank blocks; a VM opens its disk with
    C(cache=none) and reads the written data.
"""

EXAMPLES = r"""
- name: The DNS server's LUN, from the Debian cloud image, the first time only
  havirt.cluster.disk_from_image:
    path: /srv/iscsi/passata.img
    source: /var/lib/havirt/images/debian-13-genericcloud-amd64.qcow2
    checksum: sha256:2b8f0c4c0d8e5e1f9b6f6d1c1a0f4e5c3b2a19182736455463728190a1b2c3d4
  delegate_to: servdb
  run_once: true

- name: Say what would happen to a disk, without writing
  havirt.cluster.disk_from_image:
    path: /dev/drbd1
    source: /var/lib/havirt/images/debian-13.qcow2
  check_mode: true
  register: plan
"""

RETURN = r"""
action:
  description: >-
    V(write) (the disk was blank, or a write had been cut short: the image was written), V(keep) (the disk holds
    data: left alone) - what would be done, in check mode.
  returned: success
  type: str
  sample: write
holds:
  description: What the disk held before the run, one finding each; empty when it was blank.
  returned: success
  type: list
  elements: str
  sample: ["ext4 file system labelled 'root'"]
resumed:
  description: Whether a write of an earlier run had been cut short (its marker found), so the disk is written again.
  returned: success
  type: bool
  sample: false
disk_size:
  description: The disk's size in bytes.
  returned: success
  type: int
  sample: 2147483648
image_size:
  description: The image's virtual size in bytes (what the guest's disk holds of it); null when it was not read.
  returned: success
  type: int
  sample: 1610612736
image_format:
  description: The image's format, as qemu-img read it; null when it was not read (a disk kept, or in check mode an image not copied yet).
  returned: success
  type: str
  sample: qcow2
commands:
  description: The qemu-img commands run (to be run, in check mode); empty when the disk is kept.
  returned: success
  type: list
  elements: list
  sample: [[qemu-img, convert, -q, -n, -f, qcow2, -O, raw, /var/lib/havirt/images/debian.qcow2, /srv/iscsi/passata.img],
           [qemu-img, compare, -q, --image-opts, "driver=qcow2,file.driver=file,file.filename=/var/lib/havirt/images/debian.qcow2",
            "driver=raw,size=1610612736,file.driver=file,file.filename=/srv/iscsi/passata.img"]]
"""

import hashlib
import os
import stat

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.havirt.cluster.plugins.module_utils.blockdev import BlockdevError, probe, size_of
from ansible_collections.havirt.cluster.plugins.module_utils.qemu_img import (
    ImageError, check_fits, fill_commands, human, marker_path, parse_checksum, parse_info)


def file_digest(path, algorithm):
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            source=dict(type="path", required=True),
            checksum=dict(type="str", default=""),
            in_use_on=dict(type="list", elements="str", default=[]),
            state_dir=dict(type="path", default="/var/lib/havirt/disk-writes"),
        ),
        supports_check_mode=True,
    )
    module.run_command_environ_update = dict(LANG="C", LC_ALL="C", LC_MESSAGES="C")
    path, source = module.params["path"], module.params["source"]

    def refuse(text):
        module.fail_json(msg="%s. Nothing was changed." % text.rstrip("."), changed=False)

    for name, value in (("path", path), ("source", source)):
        if not os.path.isabs(value):
            refuse("%s %s is not absolute" % (name, value))
    if not os.path.exists(path):
        refuse("the disk %s does not exist on this host: the LUN's backing store (iscsi_target_luns: the whole "
               "site.yml creates it, a run with --tags vms does not) or the DRBD device must be there before an image "
               "is written into it" % path)
    try:
        algorithm, expected = parse_checksum(module.params["checksum"])
    except ImageError as exc:
        refuse(str(exc))
    try:
        size = size_of(path)
        report = probe(module, path)
    except (ImageError, BlockdevError, OSError) as exc:
        refuse("cannot read %s: %s" % (path, exc))
    marker = marker_path(module.params["state_dir"], path)
    resumed = os.path.exists(marker)
    result = dict(changed=False, action="keep", holds=report["holds"], resumed=resumed, disk_size=size,
                  image_size=None, image_format=None, commands=[])
    if report["holds"] and not resumed:
        # The VM's disk: the image is not even read (it need not be on this host).
        module.exit_json(**result)
    qemu_img = module.get_bin_path("qemu-img")
    if not os.path.exists(source) or qemu_img is None:
        if module.check_mode:
            # The caller copies the image here (and installs qemu-img) before the real run.
            result.update(changed=True, action="write")
            module.exit_json(**result)
        if qemu_img is None:
            refuse("qemu-img is not installed on this host (Debian: apt install qemu-utils)")
        refuse("the image %s does not exist on this host: copy it there first" % source)
    rc, out, err = module.run_command([qemu_img, "info", "--output=json", source])
    if rc != 0:
        refuse("qemu-img cannot read the image %s (rc %d): %s" % (source, rc, (err or out).strip()))
    try:
        image = parse_info(out)
        check_fits(path, size, image, source)
    except ImageError as exc:
        refuse(str(exc))
    block = stat.S_ISBLK(os.stat(path).st_mode)
    commands = fill_commands(qemu_img, image["format"], source, path, image["virtual_size"], block)
    result.update(changed=True, action="write", image_size=image["virtual_size"], image_format=image["format"],
                  commands=commands)
    if module._diff:
        result["diff"] = dict(before_header=path, after_header=path,
                              before="; ".join(report["holds"]) or "blank",
                              after="%s (%s, %s)" % (source, image["format"], human(image["virtual_size"])))
    if module.params["in_use_on"]:
        refuse("%s is the disk of a VM running on %s: an image is never written under a guest. Stop the VM (or "
               "leave the disk as it is) and run again" % (path, ", ".join(module.params["in_use_on"])))
    if expected:
        found = file_digest(source, algorithm)
        if found != expected:
            refuse("the image %s has %s %s, not %s as the inventory says: a different or damaged download. Fetch it "
                   "again, or correct the checksum" % (source, algorithm, found, expected))
    if module.check_mode:
        module.exit_json(**result)
    try:
        if not os.path.isdir(module.params["state_dir"]):
            os.makedirs(module.params["state_dir"], 0o700)
        with open(marker, "w") as handle:
            handle.write("%s <- %s\n" % (path, source))
    except OSError as exc:
        refuse("cannot write the marker %s: %s" % (marker, exc))
    for command in commands:
        rc, out, err = module.run_command(command)
        if rc != 0:
            module.fail_json(
                msg="%s failed (rc %d): %s. The disk %s is half-written: the next run writes it again (marker %s)."
                    % (" ".join(command), rc, (err or out).strip(), path, marker), changed=True)
    os.unlink(marker)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
