#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: domain_state
short_description: Whether a libvirt domain runs on this host, waiting out a live migration in flight
version_added: 0.1.0
author: havirt.cluster contributors (@havirt)
description:
  - >-
    Reads one domain's state, state reason and current job from libvirt on this host, and says whether the
    VM runs here (RV(here)), or is passing through a live migration (RV(migrating)), that is a migration job
    on it, or paused by one (the destination's copy waiting for its memory, the source's copy after the
    hand-over).
  - >-
    During a migration both hypervisors have a copy of the domain. The source's copy is migrating until the
    end (its job), the destination's only while it is paused for the migration (libvirt 9 does not show it
    the job). So wait with O(wait_for_migration) on every hypervisor first, then read on every hypervisor
    again; those answers describe a settled cluster. That is how C(migrate.yml) finds the VM after a run
    that was killed while its migration went on.
  - Reads only; community.libvirt.virt's C(list_vms) and C(status) see neither the job nor the reason.
options:
  name:
    description: Name of the libvirt domain.
    type: str
    required: true
  uri:
    description: libvirt URI of this host.
    type: str
    default: qemu:///system
  wait_for_migration:
    description:
      - Seconds to wait for a migration of the domain to end (either way) before answering; 0 answers at once.
      - At the end of the wait a domain still migrating is returned with RV(migrating=true); the caller decides.
    type: int
    default: 0
requirements:
  - libvirt-python on the hypervisor (python3-libvirt)
attributes:
  check_mode:
    description: Reads only, so it runs in check mode as well.
    support: full
  diff_mode:
    description: Changes nothing.
    support: none
"""

EXAMPLES = r"""
- name: Wait for a migration of passata in flight to end, on every hypervisor
  havirt.cluster.domain_state:
    name: passata
    wait_for_migration: 300

- name: Then look for passata on each hypervisor
  havirt.cluster.domain_state:
    name: passata
  register: passata_here

- name: Where passata runs
  ansible.builtin.debug:
    msg: "{{ ansible_play_hosts | map('extract', hostvars) | selectattr('passata_here.here')
             | map(attribute='inventory_hostname') | list }}"
  run_once: true
"""

RETURN = r"""
here:
  description: The VM runs on this host (running, or paused by anything but a migration) and no migration moves it.
  returned: always
  type: bool
migrating:
  description: A migration job holds the domain, or a migration paused it (after O(wait_for_migration) seconds).
  returned: always
  type: bool
state:
  description: libvirt's state of the domain (V(running), V(paused), V(shutoff), ...), V(absent) when this host has no such domain.
  returned: always
  type: str
reason:
  description: libvirt's reason for a running or paused state (V(booted), V(migrated), V(migration), V(user), ...).
  returned: always
  type: str
job:
  description: The operation of the domain's current job (V(migration_in), V(migration_out), ...), V(none) when no job runs.
  returned: always
  type: str
waited_s:
  description: Seconds spent waiting for a migration to end.
  returned: always
  type: float
"""

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.havirt.cluster.plugins.module_utils.libvirt_connection import open_or_fail
from ansible_collections.havirt.cluster.plugins.module_utils.domain_state import absent, describe

try:
    import libvirt
    HAS_LIBVIRT = True
except ImportError:
    HAS_LIBVIRT = False

POLL_S = 0.2


UNSUPPORTED = ("VIR_ERR_NO_SUPPORT", "VIR_ERR_OPERATION_UNSUPPORTED")


def current_job(dom):
    """(type, operation) of the domain's current job; (None, None) when
    libvirt will not say: a driver without job statistics (libxl), or
    libvirt 9 on a migration's destination ("migration statistics are
    available only on the source host"), where the state's reason tells."""
    try:
        stats = dom.jobStats()
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in [getattr(libvirt, name, None) for name in UNSUPPORTED]:
            return None, None
        raise
    return stats.get("type", libvirt.VIR_DOMAIN_JOB_NONE), stats.get("operation")


# How many times read() looks again at a domain that stopped between two
# of its calls: each stop is a step of a migration or a shutdown, and there
# are not many.
READ_ATTEMPTS = 5


def read(conn, name):
    """describe() of the domain as libvirt has it now; absent() if unknown.

    A domain can stop between virDomainGetState and virDomainGetJobStats:
    the source of a migration that just ended is torn down, and libvirt
    says "Requested operation is not valid: domain is not running"
    (VIR_ERR_OPERATION_INVALID). Then its state has changed: read again."""
    for attempt in range(READ_ATTEMPTS):
        try:
            dom = conn.lookupByName(name)
            state, reason = dom.state()
            job_type, operation = libvirt.VIR_DOMAIN_JOB_NONE, None
            if state not in (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_NOSTATE):
                job_type, operation = current_job(dom)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return absent()
            if exc.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID and attempt + 1 < READ_ATTEMPTS:
                continue
            raise
        return describe(state, reason, job_type, operation)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            uri=dict(type="str", default="qemu:///system"),
            wait_for_migration=dict(type="int", default=0),
        ),
        supports_check_mode=True,
    )
    if not HAS_LIBVIRT:
        module.fail_json(msg=missing_required_lib("libvirt-python (Debian: python3-libvirt)"))
    params = module.params
    if params["wait_for_migration"] < 0:
        module.fail_json(msg="wait_for_migration is %d: give 0 (do not wait) or a number of seconds" % params["wait_for_migration"])
    conn = open_or_fail(module, libvirt, params["uri"])
    started = time.monotonic()
    deadline = started + params["wait_for_migration"]
    try:
        found = read(conn, params["name"])
        while found["migrating"] and time.monotonic() < deadline:
            time.sleep(POLL_S)
            found = read(conn, params["name"])
    except libvirt.libvirtError as exc:
        module.fail_json(msg="cannot read the state of %s from %s: %s" % (params["name"], params["uri"], exc))
    module.exit_json(changed=False, waited_s=round(time.monotonic() - started, 1), **found)


if __name__ == "__main__":
    main()
