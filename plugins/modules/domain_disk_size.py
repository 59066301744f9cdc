#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: domain_disk_size
short_description: Grow a running VM's disk live, so that its guest sees the new size at once
version_added: 0.1.0
author: havirt.cluster contributors (@havirt)
description:
  - >-
    Works on a domain that runs on this host; where it does not run (another hypervisor runs it, or nobody), it
    does nothing and says so (RV(running=false)): run it on every hypervisor.
  - >-
    Reads the size the guest sees (libvirt's C(virDomainGetBlockInfo) capacity) and grows it with
    C(virDomainBlockResize), QEMU's C(block_resize): an image file is grown by QEMU itself (raw or qcow2, the
    running VM's lock is QEMU's own), a block device (a DRBD resource, a logical volume, a LUN seen through the
    kernel's session) must have grown already, and the guest's virtio disk grows at once, without a restart.
  - >-
    Never shrinks: a size smaller than what the guest sees is refused, and nothing is changed. A block device
    smaller than the size asked for is refused with what to grow first.
  - >-
    C(community.libvirt.virt) has no call for this; C(virsh blockresize) is the same call by hand.
options:
  name:
    description: Name of the libvirt domain.
    type: str
    required: true
  target:
    description: The disk's C(<target dev>) in the domain (V(vda) for the vms role's VMs).
    type: str
    default: vda
  size:
    description:
      - >-
        The size the guest must see: bytes, or a number with V(K), V(M), V(G) or V(T) (binary units, as
        C(qemu-img) reads them), rounded up to whole 512-byte sectors.
      - >-
        Omitted for a block device: the device's own size (what a grown DRBD resource or logical volume now has).
        Needed for an image file or a network disk.
    type: str
  uri:
    description: libvirt URI of this host.
    type: str
    default: qemu:///system
requirements:
  - libvirt-python on the hypervisor (python3-libvirt), a QEMU/KVM domain (libxl cannot resize a disk live).
attributes:
  check_mode:
    description: Reads the sizes and says what would be grown, without growing it.
    support: full
  diff_mode:
    description: The size the guest sees, before and after.
    support: full
notes:
  - The guest sees a bigger disk; its partitions and file systems are its own to grow (C(growpart) and
    C(resize2fs) in the guest; Debian's cloud images grow their root at boot).
"""

EXAMPLES = r"""
- name: Let passata's guest see its grown DRBD device (on every hypervisor; acts where it runs)
  havirt.cluster.domain_disk_size:
    name: passata

- name: Grow speedauth's image file to 20 GiB while it runs
  havirt.cluster.domain_disk_size:
    name: speedauth
    size: 20G
"""

RETURN = r"""
running:
  description: The domain runs on this host (only then is anything read or grown).
  returned: always
  type: bool
action:
  description: V(grow) (grown, or would be in check mode), V(none) (the guest sees the size already) or V(not running).
  returned: always
  type: str
previous_size:
  description: What the guest saw before, in bytes (0 when the domain does not run here).
  returned: always
  type: int
size:
  description: What the guest sees after (would see, in check mode), in bytes.
  returned: always
  type: int
physical:
  description: What libvirt reports under the disk (a block device's size, an image file's length), in bytes.
  returned: when running
  type: int
source:
  description: The file, device or network name the disk opens.
  returned: when running
  type: str
  sample: /dev/drbd1
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.havirt.cluster.plugins.module_utils.libvirt_connection import open_or_fail
from ansible_collections.havirt.cluster.plugins.module_utils.domain_disk import DiskError, disk_of, grow_plan
from ansible_collections.havirt.cluster.plugins.module_utils.qemu_img import ImageError, human, parse_size

try:
    import libvirt
    HAS_LIBVIRT = True
except ImportError:
    HAS_LIBVIRT = False


def running_domain(conn, name):
    """The domain when it runs (or is paused) here, else None."""
    try:
        dom = conn.lookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None
        raise
    return dom if dom.isActive() else None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            target=dict(type="str", default="vda"),
            size=dict(type="str"),
            uri=dict(type="str", default="qemu:///system"),
        ),
        supports_check_mode=True,
    )
    if not HAS_LIBVIRT:
        module.fail_json(msg=missing_required_lib("libvirt-python (Debian: python3-libvirt)"))
    params = module.params
    result = dict(changed=False, running=False, action="not running", previous_size=0, size=0)
    try:
        wanted = None if params["size"] in (None, "") else parse_size(params["size"])
    except ImageError as exc:
        module.fail_json(msg="size: %s" % exc, **result)
    conn = open_or_fail(module, libvirt, params["uri"])
    name, target = params["name"], params["target"]
    try:
        dom = running_domain(conn, name)
        if dom is None:
            module.exit_json(**result)
        disk = disk_of(dom.XMLDesc(0), target)
        capacity, _allocation, physical = dom.blockInfo(target, 0)
        action, size, reason = grow_plan(disk, capacity, physical, wanted)
    except DiskError as exc:
        module.fail_json(msg="%s's disk %s: %s" % (name, target, exc), **result)
    except libvirt.libvirtError as exc:
        module.fail_json(msg="cannot read %s's disk %s from %s: %s" % (name, target, params["uri"], exc), **result)
    result.update(running=True, action=action, previous_size=capacity, size=size, physical=physical,
                  source=disk["source"], reason=reason)
    if action == "grow":
        result["changed"] = True
        if module._diff:
            result["diff"] = dict(before="%s %s: %s\n" % (name, target, human(capacity)),
                                  after="%s %s: %s\n" % (name, target, human(size)))
        if not module.check_mode:
            try:
                dom.blockResize(target, size, libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES)
                result["size"] = dom.blockInfo(target, 0)[0]
            except libvirt.libvirtError as exc:
                module.fail_json(msg="QEMU did not grow %s's disk %s (%s) from %s to %s: %s. The VM runs on as it was."
                                 % (name, target, disk["source"], human(capacity), human(size), exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
