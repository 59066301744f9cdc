#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: tgt_luns
short_description: Make a running tgt target's LUNs the inventory's, LUN n the n-th, adding new ones live
version_added: 0.1.0
author: havirt.cluster contributors (@havirt)
description:
  - >-
    Reads the running target O(iqn) from tgtd (C(tgtadm --op show)) and makes its LUNs O(luns), LUN n being the
    n-th entry: a LUN that is missing is added live (C(tgtadm --op new --mode logicalunit)), so that a new VM's disk
    is exported without restarting tgt and dropping the sessions of the running VMs (C(tgt-admin --update) leaves a
    target in use as it is).
  - >-
    Refuses, changing nothing, a running LUN whose backing store is not the inventory's entry of that number: the
    guest that uses LUN n would get another disk. The message gives the running order, which the inventory can
    take (tgt-admin numbers the backing stores of a configuration file in the sorted order of their paths unless
    each has its own C(lun), as the iscsi_target role now writes).
  - >-
    LUNs of the target beyond the list are left as they are (a VM may use one) and reported in RV(extra).
  - >-
    A target tgtd does not run (tgt not installed or stopped, or the target not created yet) is left to the
    configuration file: RV(running) false, nothing done.
options:
  iqn:
    description: The target's IQN.
    type: str
    required: true
  luns:
    description: The backing stores (block devices or files), LUN 1 first.
    type: list
    elements: path
    required: true
requirements:
  - tgt (tgtadm) on the host; tested with tgt 1.0.85 (Debian 12 and 13)
attributes:
  check_mode:
    description: Reads the target and says what it would add or refuse; adds nothing.
    support: full
  diff_mode:
    description: The running LUNs before and after.
    support: full
"""

EXAMPLES = r"""
- name: Export a new VM's LUN without restarting the target
  havirt.cluster.tgt_luns:
    iqn: iqn.2026-11.org.example:servdb.cluster
    luns: [/srv/iscsi/cluster.img, /srv/iscsi/passata.img, /srv/iscsi/soldi.img]

- name: Refuse a LUN numbering that would swap the VMs' disks, before anything is written
  havirt.cluster.tgt_luns:
    iqn: iqn.2026-11.org.example:servdb.cluster
    luns: "{{ iscsi_target_luns | map(attribute='path') }}"
  check_mode: true
"""

RETURN = r"""
running:
  description: Whether tgtd runs the target.
  returned: success
  type: bool
  sample: true
luns:
  description: The target's LUNs (number to backing store) after the run (what they would be, in check mode); tgt's LUN 0 left out.
  returned: success
  type: dict
  sample: {"1": /srv/iscsi/cluster.img, "2": /srv/iscsi/passata.img}
added:
  description: The LUNs added (to be added, in check mode), as [number, path].
  returned: success
  type: list
  elements: list
  sample: [[5, /srv/iscsi/soldi.img]]
extra:
  description: The target's LUNs beyond the list, left as they are, as [number, path].
  returned: success
  type: list
  elements: list
  sample: []
sessions:
  description: The initiators with a session to the target (one entry per session).
  returned: success
  type: list
  elements: str
  sample: [iqn.2026-11.org.example:vms]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.havirt.cluster.plugins.module_utils.tgtadm import (
    TgtadmError, add_lun_argv, lun_plan, moved_message, parse_targets)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            iqn=dict(type="str", required=True),
            luns=dict(type="list", elements="path", required=True),
        ),
        supports_check_mode=True,
    )
    module.run_command_environ_update = dict(LANG="C", LC_ALL="C", LC_MESSAGES="C")
    iqn, wanted = module.params["iqn"], module.params["luns"]
    result = dict(changed=False, running=False, luns={}, added=[], extra=[], sessions=[])
    tgtadm = module.get_bin_path("tgtadm")
    if tgtadm is None:
        module.exit_json(**result)
    rc, out, err = module.run_command([tgtadm, "--lld", "iscsi", "--mode", "target", "--op", "show"])
    if rc != 0:
        # tgtd not running ("can't send the request to the tgt daemon"): the configuration file applies at start.
        result["tgtadm_error"] = (err or out).strip()
        module.exit_json(**result)
    try:
        target = parse_targets(out).get(iqn)
    except TgtadmError as exc:
        module.fail_json(msg="cannot read tgtd's targets: %s. Nothing was changed." % exc)
    if target is None:
        module.exit_json(**result)
    plan = lun_plan(target["luns"], wanted)
    result.update(running=True, sessions=target["sessions"], extra=[list(item) for item in plan["extra"]])
    if plan["moved"]:
        module.fail_json(msg=moved_message(iqn, plan["moved"], target["luns"]), changed=False,
                         luns=dict((str(n), p) for n, p in sorted(target["luns"].items())))
    after = dict(target["luns"])
    after.update(plan["add"])
    result.update(changed=bool(plan["add"]), added=[list(item) for item in plan["add"]],
                  luns=dict((str(n), p) for n, p in sorted(after.items())))
    if module._diff and plan["add"]:
        result["diff"] = dict(before_header="%s LUNs" % iqn, after_header="%s LUNs" % iqn,
                              before="".join("%d %s\n" % item for item in sorted(target["luns"].items())),
                              after="".join("%d %s\n" % item for item in sorted(after.items())))
    if module.check_mode:
        module.exit_json(**result)
    for number, path in plan["add"]:
        rc, out, err = module.run_command(add_lun_argv(tgtadm, target["tid"], number, path))
        if rc != 0:
            module.fail_json(msg="tgtadm could not add LUN %d (%s) to %s (rc %d): %s. The configuration file has it: "
                                 "tgt exports it at its next start." % (number, path, iqn, rc, (err or out).strip()),
                             changed=number != plan["add"][0][0])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
