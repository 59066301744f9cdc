#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: reboot_needed
short_description: Tell whether a node runs old code after a package upgrade, and why
version_added: 0.1.0
author: havirt.cluster contributors (@havirt)
description:
  - >-
    Reads, changing nothing, what a package upgrade left running: a kernel newer than the running one installed
    (the directories of C(/lib/modules)), the packages' own request (C(/run/reboot-required), with the packages
    C(/run/reboot-required.pkgs) names), and every process that still maps a program or library the upgrade
    replaced (C((deleted)) entries of C(/proc/PID/maps) under C(/usr), C(/lib), C(/bin), C(/sbin) or C(/opt)),
    grouped by systemd unit.
  - >-
    The upgrade role restarts a node (already emptied of its VMs) when RV(needed) is true: after an upgrade of
    corosync, pacemaker, libvirt or the C library, a restart is the one way to be sure that the cluster stack
    runs the new code everywhere, together.
  - Without the right to read another process's maps (not root), that process is skipped and counted in RV(unreadable).
options: {}
requirements:
  - Linux (/proc); run as root to see every process
attributes:
  check_mode:
    description: The module only reads; check mode returns the same answer.
    support: full
  diff_mode:
    description: Nothing is changed, so there is no diff.
    support: none
"""

EXAMPLES = r"""
- name: Read whether the upgrade left old code running
  havirt.cluster.reboot_needed:
  register: __upgrade_reboot

- name: Restart the node when it does
  ansible.builtin.reboot:
    msg: Restarting after the package upgrade
  when: __upgrade_reboot.needed
"""

RETURN = r"""
needed:
  description: Whether the node should be restarted.
  returned: success
  type: bool
  sample: true
reasons:
  description: Why, one sentence each.
  returned: success
  type: list
  elements: str
  sample: ["kernel 6.12.58+deb13-amd64 is installed, 6.12.57+deb13-amd64 runs",
           "libvirtd.service runs replaced code (/usr/lib/x86_64-linux-gnu/libvirt.so.0.11003.0)"]
kernel:
  description: The running kernel's release and the newest installed one ('' when none is installed, as in a container).
  returned: success
  type: dict
  sample: {"running": 6.12.57+deb13-amd64, "newest": 6.12.58+deb13-amd64}
processes:
  description: The processes that run replaced code.
  returned: success
  type: list
  elements: dict
  sample: [{"pid": 812, "name": "libvirtd", "unit": "libvirtd.service", "files": ["/usr/sbin/libvirtd"]}]
unreadable:
  description: How many processes could not be read (gone meanwhile, or not allowed).
  returned: success
  type: int
  sample: 0
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.havirt.cluster.plugins.module_utils.reboot_needed import (
    deleted_code, newest_kernel, reasons, systemd_unit)


def _read(path):
    with open(path) as handle:
        return handle.read()


def _processes(own_pid):
    """Every process mapping replaced code, and how many could not be read."""
    found, unreadable = [], 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == own_pid:
            continue
        try:
            files = deleted_code(_read("/proc/%s/maps" % entry))
            if not files:
                continue
            found.append(dict(pid=int(entry), name=_read("/proc/%s/comm" % entry).strip(),
                              unit=systemd_unit(_read("/proc/%s/cgroup" % entry)), files=files))
        except (IOError, OSError):
            unreadable += 1
    return sorted(found, key=lambda p: p["pid"]), unreadable


def main():
    module = AnsibleModule(argument_spec=dict(), supports_check_mode=True)
    processes, unreadable = _processes(os.getpid())
    try:
        installed = os.listdir("/lib/modules")
    except OSError:
        installed = []
    reboot_required = None
    if os.path.exists("/run/reboot-required"):
        try:
            reboot_required = _read("/run/reboot-required.pkgs")
        except (IOError, OSError):
            reboot_required = ""
    running = os.uname()[2]
    why = reasons(running, installed, reboot_required, processes)
    module.exit_json(changed=False, needed=bool(why), reasons=why, processes=processes, unreadable=unreadable,
                     kernel=dict(running=running, newest=newest_kernel(installed)))


if __name__ == "__main__":
    main()
