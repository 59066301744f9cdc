# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is wrong with the migration transport's settings (xen_migration
role) before any host is touched, one sentence per problem. The CA's
passphrase is read here only and never written into a message."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.module_utils.inventory_rules import as_int, not_in_group

DOCUMENTATION = r"""
name: migration_problems
short_description: What is wrong with the live migration's transport settings, before any host is touched
version_added: 0.1.0
author: havirt.cluster contributors (@havirt)
description:
  - "Checks, for the xen_migration role: a transport, C(tls) or C(ssh); with C(tls), the CA key's passphrase of at
    least 12 characters; with C(ssh), neither post-copy nor parallel connections (libvirt refuses both in the
    tunnelled migration that ssh needs); an absolute path for the migration key; at least one parallel
    connection."
  - Returns every problem, one sentence each; an empty list means none. The passphrase is never in a message.
options:
  _input:
    description:
      - The settings, a dict with C(transport), C(ca_passphrase), C(postcopy), C(parallel_connections) and
        C(ssh_key) (the xen_migration_* variables of those names).
    type: dict
    required: true
  host:
    description: The host the role runs on (C(inventory_hostname)); not checked when None.
    type: str
  hosts:
    description: The hypervisors, the only hosts the migration path is set up on.
    type: list
    elements: str
    default: []
  group:
    description: The hypervisors' group, for the messages.
    type: str
    default: hypervisors
"""

EXAMPLES = r"""
- name: Check the migration settings
  vars:
    __problems: >-
      {{ {'transport': xen_migration_transport, 'ca_passphrase': xen_migration_ca_passphrase | default(none),
          'postcopy': xen_migration_postcopy, 'parallel_connections': xen_migration_parallel_connections,
          'ssh_key': xen_migration_ssh_key}
         | havirt.cluster.migration_problems(inventory_hostname, __xen_migration_hosts, group=xen_migration_group) }}
  ansible.builtin.assert:
    that: __problems | length == 0
    fail_msg: "{{ __problems | join(' ') }}"
"""

RETURN = r"""
_value:
  description: One sentence per problem; empty when there is none.
  type: list
  elements: str
  sample:
    - "With the ssh transport, xen_migration_postcopy must be false: libvirt refuses post-copy in a tunnelled
      migration."
"""

PASSPHRASE_MIN = 12


def migration_problems(settings, host=None, hosts=(), group="hypervisors"):
    """Every problem of the migration transport's settings, one sentence each; empty when none."""
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError("migration_problems: the settings must be a dict, got %r" % (settings,))
    transport = settings.get("transport")
    problems = []
    if transport not in ("tls", "ssh"):
        problems.append("xen_migration_transport must be tls or ssh, not %r." % (transport,))
    passphrase = settings.get("ca_passphrase")
    if transport == "tls" and (not isinstance(passphrase, str) or len(passphrase) < PASSPHRASE_MIN):
        problems.append("With the tls transport, the CA key needs a passphrase of at least %d characters in "
                        "xen_migration_ca_passphrase (havirt_pki_ca_passphrase, from ansible-vault)." % PASSPHRASE_MIN)
    connections = as_int(settings.get("parallel_connections", 1))
    if connections is None or connections < 1:
        problems.append("xen_migration_parallel_connections must be a number of at least 1, not %r."
                        % (settings.get("parallel_connections"),))
    if transport == "ssh":
        if settings.get("postcopy"):
            problems.append("With the ssh transport, xen_migration_postcopy must be false: libvirt refuses post-copy "
                            "in a tunnelled migration.")
        if connections is not None and connections > 1:
            problems.append("With the ssh transport, xen_migration_parallel_connections must be 1: libvirt refuses "
                            "parallel connections in a tunnelled migration.")
    key = settings.get("ssh_key")
    if not isinstance(key, str) or not key.startswith("/"):
        problems.append("xen_migration_ssh_key must be an absolute path, not %r." % (key,))
    stranger = None if host is None else not_in_group(host, hosts, group,
                                                      "the migration path is set up on the hypervisors only")
    if stranger:
        problems.append(stranger)
    return problems


class FilterModule:
    """havirt.cluster filters for the xen_migration role."""

    def filters(self):
        return {"migration_problems": migration_problems}
