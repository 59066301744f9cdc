#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: blank_device
short_description: Refuse a block device that holds anything, before something is written on it
version_added: 0.1.0
author: havirt.cluster contributors (@havirt)
description:
  - Reads what a block device (or an image file) holds and fails, naming it, unless it holds nothing
    or only what O(allow) accepts. Run it before C(mkfs), C(drbdadm create-md) or anything else that
    would destroy what is there.
  - A device holds nothing when C(wipefs) finds no signature on it (file systems, RAID and LVM members,
    partition tables such as C(gpt) with its protective MBR C(PMBR), or C(dos)), C(blkid --probe) finds
    neither a file system nor a partition table, and its first and last MiB are zeros (all of it when
    it is smaller than 2 MiB).
  - The partitions of a partition table are read too (C(partx), then C(blkid --probe --offset --size)
    on each), so a disk that holds a GPT is reported with the file system in each partition.
  - Never changes anything. The device is opened read-only; C(wipefs) only lists (C(--no-act), without
    C(--all)).
notes:
  - Non-zero bytes are reported (RV(holds)) only when no signature was found, since a signature
    explains them.
  - Sizes and offsets of partitions are in bytes (libblkid counts 512-byte sectors whatever the
    device's sector size).
requirements:
  - util-linux (C(wipefs) with C(--json), C(blkid), C(partx)); written for and tested with util-linux 2.38.1
    (Debian 12).
attributes:
  check_mode:
    description: Reads the device the same way in check mode; it never changes anything.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
options:
  path:
    description: The block device (or image file) to read.
    type: path
    required: true
  allow:
    description:
      - Signature types (as C(wipefs) names them, e.g. V(ocfs2), V(ext4), V(gpt)) the device may hold
        without failing, for a caller that keeps what it finds (the ocfs2 role keeps an existing OCFS2).
      - The device must hold only allowed signatures; one allowed signature beside another does not
        pass. V(gpt) also allows its protective MBR (V(PMBR)).
    type: list
    elements: str
    default: []
  force:
    description:
      - Report what the device holds but do not fail (a warning says what would be destroyed). For a
        caller that was told the data may be destroyed.
    type: bool
    default: false
  hint:
    description:
      - Appended to the failure message to say what would allow the device, e.g. the variable of the
        calling role.
    type: str
    default: If its data may be destroyed, set force=true for one run.
"""

EXAMPLES = r"""
- name: Refuse the shared disk unless it is blank or already OCFS2
  havirt.cluster.blank_device:
    path: /dev/sdb
    allow: [ocfs2]
    hint: "If its data may be destroyed, set ocfs2_force_format: true for one run."
  register: shared_disk

- name: Format it only when it holds nothing
  ansible.builtin.command:
    argv: [mkfs.ocfs2, -L, havirt-vms, /dev/sdb]
  when: shared_disk.blank
  changed_when: true

- name: Report what a disk holds, without failing
  havirt.cluster.blank_device:
    path: /dev/vdc
    force: true
  register: spare

- name: Show it
  ansible.builtin.debug:
    msg: "/dev/vdc holds: {{ spare.holds | join('; ') or 'nothing' }}"
"""

RETURN = r"""
blank:
  description: Whether the device holds nothing at all (no signature, zeros at its start and end).
  returned: success
  type: bool
  sample: false
holds:
  description: What the device holds, one finding each, for people; empty when it is blank.
  returned: success
  type: list
  elements: str
  sample: ["gpt partition table", "partition 1 (63 MiB at 1 MiB): ext4 file system labelled 'data'"]
signatures:
  description:
    - Every signature on the whole device, as C(wipefs) lists them (a GPT twice, primary and backup,
      and its C(PMBR)), then what only C(blkid) found (offset null).
    - C(offset) is in bytes; C(usage) is C(filesystem), C(partition-table), C(raid), C(crypto) or C(other).
  returned: success
  type: list
  elements: dict
  sample: [{type: gpt, label: "", uuid: "", offset: 512, usage: partition-table},
           {type: gpt, label: "", uuid: "", offset: 67108352, usage: partition-table},
           {type: PMBR, label: "", uuid: "", offset: 510, usage: partition-table}]
partitions:
  description: The partitions of a partition table on the device, each with the signatures found in it (start and size in bytes).
  returned: success
  type: list
  elements: dict
  sample: [{number: 1, start: 1048576, size: 66043392, type: 0fc63daf-8483-4772-8e79-3d69d8477de4, name: data,
            scheme: gpt, holds: [{type: ext4, label: data, uuid: 6f0b6b52-6c1a-4b8e-9d5a-3a1f2b4c5d6e,
            offset: null, usage: filesystem}]}]
existing:
  description:
    - The allowed signature the device holds (a file system first), when it holds nothing else;
      null otherwise.
  returned: success
  type: dict
  sample: {type: ocfs2, label: havirt-vms, uuid: 40127ed4-308b-43d5-9bfa-30a08acc27ed, offset: 8192, usage: filesystem}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.havirt.cluster.plugins.module_utils.blockdev import (
    BlockdevError, probe, refusal, verdict)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            allow=dict(type="list", elements="str", default=[]),
            force=dict(type="bool", default=False),
            hint=dict(type="str", default="If its data may be destroyed, set force=true for one run."),
        ),
        supports_check_mode=True,
    )
    module.run_command_environ_update = dict(LANG="C", LC_ALL="C", LC_MESSAGES="C")
    path = module.params["path"]
    try:
        report = probe(module, path)
    except BlockdevError as exc:
        module.fail_json(msg="%s. Nothing was changed." % str(exc).rstrip("."), changed=False)
    blank, existing, unexpected = verdict(report, module.params["allow"])
    result = dict(changed=False, blank=blank, holds=report["holds"], signatures=report["signatures"],
                  partitions=report["partitions"], existing=existing)
    if unexpected:
        message = refusal(path, unexpected, module.params["allow"], module.params["hint"])
        if not module.params["force"]:
            module.fail_json(msg=message, **result)
        module.warn("%s is not blank and force is set: what it holds may be destroyed: %s"
                    % (path, "; ".join(unexpected)))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
