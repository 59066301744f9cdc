#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: drbd_role
short_description: Promote or demote this host's copy of a DRBD resource, and allow or forbid two primaries
version_added: 0.1.0
author: havirt.cluster contributors (@havirt)
description:
  - >-
    The two steps of DRBD's documented live migration, on one host of a resource that is up and connected:
    two primaries allowed (C(drbdadm net-options --allow-two-primaries=yes)) on both hosts, then the
    destination promoted, so that its QEMU can open the disk while the source's still writes; after the
    move, the copy the VM left demoted and two primaries forbidden again. C(migrate.yml) runs it on the
    source and the destination while the cluster manager leaves the resource alone (in maintenance).
  - >-
    Order on this host, whatever the order of the options: a promotion comes after two primaries are
    allowed, a demotion before they are forbidden. Forbid them on the host that stays primary only after
    the other was demoted (DRBD refuses the change while both are primary).
  - >-
    The role is read from C(/proc/drbd) and changed only when it differs. DRBD 8.4 shows the two-primaries
    option nowhere but in C(drbdsetup show); the module sets it whenever O(allow_two_primaries) is given
    (a no-op for DRBD when it already is so) and reports it as a change.
  - >-
    A demotion is retried for O(demote_timeout) seconds while the device is still open (the source's QEMU
    closes it moments after the hand-over); a device still held then fails with DRBD's answer.
options:
  name:
    description: The DRBD resource, as the configuration names it.
    type: str
    required: true
  role:
    description: This host's role afterwards. Omitted, the role is left as it is.
    type: str
    choices: [primary, secondary]
  allow_two_primaries:
    description: Allow (true) or forbid (false) two primaries on the resource's connection. Omitted, left as it is.
    type: bool
  demote_timeout:
    description: Seconds to retry a demotion refused because the device is open.
    type: int
    default: 10
  config_file:
    description: Read this DRBD configuration file instead of the installed one (C(drbdadm --config-file)).
    type: path
requirements:
  - drbd-utils, and the resource up (C(havirt.cluster.drbd_resource))
attributes:
  check_mode:
    description: Says what it would run; runs nothing.
    support: full
  diff_mode:
    description: The role and the two-primaries setting before and after.
    support: full
notes:
  - >-
    A promotion is refused by DRBD unless the peer allows two primaries too, or is secondary; and unless
    this copy is UpToDate. The message is DRBD's.
"""

EXAMPLES = r"""
- name: Allow two primaries on both hosts, and promote the destination, for a live migration
  havirt.cluster.drbd_role:
    name: passata
    allow_two_primaries: true
    role: "{{ 'primary' if item == 'servvirt2' else omit }}"
  delegate_to: "{{ item }}"
  loop: [servvirt1, servvirt2]
  run_once: true

- name: After the move, the copy the VM left demoted first, then one primary again on both
  havirt.cluster.drbd_role:
    name: passata
    allow_two_primaries: false
    role: "{{ 'secondary' if item == 'servvirt1' else omit }}"
  delegate_to: "{{ item }}"
  loop: [servvirt1, servvirt2]
  run_once: true
"""

RETURN = r"""
role:
  description: This host's role afterwards (before, in check mode), as C(/proc/drbd) shows it.
  returned: success
  type: str
  sample: Primary
status:
  description: The resource's state afterwards, one line.
  returned: success
  type: str
  sample: Connected Primary/Primary UpToDate/UpToDate
commands:
  description: The drbdadm commands run (to be run, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["drbdadm net-options --allow-two-primaries=yes passata", "drbdadm primary passata"]
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.havirt.cluster.plugins.module_utils.drbd import describe, redact_secrets
from ansible_collections.havirt.cluster.plugins.module_utils.drbd_tool import Drbd, DrbdFailure

PROC_DRBD = "/proc/drbd"
# drbdadm secondary while the device is open: "State change failed: (-12)
# Device is held open by someone" (fixture drbd/secondary_held_open.stderr).
HELD_OPEN = "held open"
ANY_RC = tuple(range(256))


def _yes_no(value):
    return "yes" if value else "no"


def plan(status, role, allow_two_primaries):
    """The drbdadm commands (argument lists without the resource) that take
    a resource in ``status`` to ``role`` with ``allow_two_primaries``, in the
    order DRBD accepts them."""
    steps = []
    current = status.get("role", "")
    demote = role == "secondary" and current != "Secondary"
    promote = role == "primary" and current != "Primary"
    if demote:
        steps.append(["secondary"])
    if allow_two_primaries is not None:
        steps.append(["net-options", "--allow-two-primaries=%s" % _yes_no(allow_two_primaries)])
    if promote:
        steps.append(["primary"])
    return steps


def demote(tool, timeout):
    """drbdadm secondary, again every second while DRBD says the device is
    held open, until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        rc, out, err = tool.run(["secondary", tool.name], change=True, allow_rc=ANY_RC)
        if rc == 0:
            return
        if HELD_OPEN not in (err + out) or time.monotonic() >= deadline:
            raise DrbdFailure("drbdadm secondary %s failed (rc %s) after %ss: %s. Something still uses /dev/drbd "
                              "on this host (a VM's QEMU: virsh list; a mount: findmnt)."
                              % (tool.name, rc, timeout, (err or out).strip()))
        time.sleep(1)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            role=dict(type="str", choices=["primary", "secondary"]),
            allow_two_primaries=dict(type="bool"),
            demote_timeout=dict(type="int", default=10),
            config_file=dict(type="path"),
        ),
        required_one_of=[("role", "allow_two_primaries")],
        supports_check_mode=True,
    )
    module.run_command_environ_update = dict(LANG="C", LC_ALL="C", LC_MESSAGES="C")
    params = module.params
    result = dict(changed=False, commands=[])
    try:
        tool = Drbd(module, params["name"], PROC_DRBD)
        minor = int(tool.config_value("minor"))
        before = tool.status(minor)
        if not before:
            raise DrbdFailure("resource %s (minor %s) is not up on this host: bring it up first (site.yml, the drbd "
                              "role). Nothing was changed." % (tool.name, minor))
        steps = plan(before, params["role"], params["allow_two_primaries"])
        result["commands"] = ["drbdadm %s %s" % (" ".join(step), tool.name) for step in steps]
        result["changed"] = bool(steps)
        after = before
        if steps and not module.check_mode:
            for step in steps:
                if step == ["secondary"]:
                    demote(tool, params["demote_timeout"])
                else:
                    tool.run(step + [tool.name], change=True)
            after = tool.status(minor)
    except DrbdFailure as exc:
        module.fail_json(**redact_secrets(dict(result, msg=str(exc))))

    result.update(role=after.get("role", ""), status=describe(after))
    if module._diff:
        two = params["allow_two_primaries"]
        result["diff"] = dict(
            before="%s: %s\n" % (tool.name, describe(before)),
            after="%s: %s%s\n" % (tool.name, describe(after) if not module.check_mode else
                                  "role %s" % (params["role"] or before.get("role", "")).capitalize(),
                                  "" if two is None else ", two primaries %s" % ("allowed" if two else "forbidden")))
    module.exit_json(**redact_secrets(result))


if __name__ == "__main__":
    main()
