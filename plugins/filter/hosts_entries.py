# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build and check /etc/hosts entries from the inventory."""

from __future__ import annotations

import ipaddress
import re

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: hosts_entries
short_description: /etc/hosts entries for a group of inventory hosts, checked for clashes
version_added: 0.1.0
description:
  - Turns a list of inventory host names into C(/etc/hosts) entries, one per host, with the
    address read from a host variable, the short name, an optional fully qualified name and
    optional aliases.
  - Adds the extra entries given, then refuses the whole list when two entries share an address
    or a name, or when an address or a name is not valid. The error names every clash and the
    hosts involved, so the inventory can be fixed before any host is touched.
options:
  _input:
    description: Inventory host names, for example C(groups['cluster']).
    type: list
    elements: str
    required: true
  hostvars:
    description: The C(hostvars) of the play.
    type: dict
    required: true
  address_variable:
    description: Host variable that holds each host's address.
    type: str
    default: havirt_cluster_address
  aliases_variable:
    description: Host variable that holds a list of extra names for a host.
    type: str
    default: havirt_host_aliases
  domain:
    description: DNS domain; when set each entry also carries C(name.domain), first.
    type: str
    default: ''
  extra_entries:
    description: Entries for hosts outside the group, each a dict with C(address) and C(names).
    type: list
    elements: dict
    default: []
"""

EXAMPLES = r"""
- name: Entries for every node of the cluster
  ansible.builtin.debug:
    msg: "{{ groups['cluster'] | havirt.cluster.hosts_entries(hostvars, domain='example.org') }}"
"""

RETURN = r"""
_value:
  description: One dict per entry, in input order, extra entries last.
  type: list
  elements: dict
  sample:
    - {host: servdb, address: 192.168.10.10, names: [servdb.example.org, servdb]}
"""

# RFC 1123 label, as used in host names.
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


class HostsEntryError(ValueError):
    """The inventory does not give a valid, clash-free set of entries."""


def valid_hostname(name: str) -> bool:
    """Return True when ``name`` is a valid host name (labels joined by dots)."""
    if not isinstance(name, str) or not name or len(name) > 253:
        return False
    return all(_LABEL.match(label) for label in name.rstrip(".").split("."))


def inventory_entries(hostnames, hostvars, address_variable="havirt_cluster_address",
                      aliases_variable="havirt_host_aliases", domain=""):
    """Return one entry dict per inventory host.

    The address comes from ``address_variable`` and, when that is not set,
    from ``ansible_host``.
    """
    entries = []
    for host in hostnames:
        hvars = hostvars.get(host, {})
        address = hvars.get(address_variable) or hvars.get("ansible_host")
        if not address:
            raise HostsEntryError(
                f"Host {host} has no address: set {address_variable} for it in the inventory."
            )
        names = [host]
        if domain and "." not in host:
            names.insert(0, f"{host}.{domain}")
        aliases = hvars.get(aliases_variable) or []
        if isinstance(aliases, str):
            aliases = [aliases]
        names.extend(a for a in aliases if a not in names)
        entries.append({"host": host, "address": str(address), "names": names,
                        "source": address_variable if hvars.get(address_variable) else "ansible_host"})
    return entries


def entry_problems(entries):
    """Return a list of messages, one per invalid value and per clash."""
    problems = []
    by_address = {}
    by_name = {}
    for entry in entries:
        who = entry.get("host") or "extra entry " + ", ".join(entry.get("names") or ["(no names)"])
        address = entry.get("address")
        try:
            canonical = str(ipaddress.ip_address(str(address)))
        except ValueError:
            problems.append(f"{who}: '{address}' is not an IP address")
            canonical = str(address)
        if not entry.get("names"):
            problems.append(f"{who}: no names for {address}")
        by_address.setdefault(canonical, []).append(who)
        for name in entry.get("names") or []:
            if not valid_hostname(name):
                problems.append(f"{who}: '{name}' is not a valid host name")
            by_name.setdefault(str(name).lower(), []).append((who, canonical))
    for address, owners in by_address.items():
        if len(owners) > 1:
            problems.append(f"duplicate address {address}: used by {' and '.join(owners)}")
    for name, owners in by_name.items():
        if len(set(owners)) > 1:
            listed = " and ".join(f"{who} ({addr})" for who, addr in owners)
            problems.append(f"duplicate name {name}: given to {listed}")
    return problems


def check_entries(entries):
    """Return ``entries``, or raise HostsEntryError naming every problem."""
    problems = entry_problems(entries)
    if problems:
        raise HostsEntryError("The inventory does not give a valid /etc/hosts: " + "; ".join(problems))
    return entries


def all_entries(hostnames, hostvars, address_variable="havirt_cluster_address",
                aliases_variable="havirt_host_aliases", domain="", extra_entries=None):
    """Entries for ``hostnames`` followed by ``extra_entries``, unchecked."""
    if not isinstance(hostnames, (list, tuple)):
        raise HostsEntryError("expected a list of inventory host names, got " + type(hostnames).__name__)
    entries = inventory_entries(hostnames, hostvars, address_variable, aliases_variable, domain)
    for extra in extra_entries or []:
        names = extra.get("names") or []
        if isinstance(names, str):
            names = [names]
        entries.append({"host": None, "address": str(extra.get("address", "")), "names": list(names),
                        "source": "extra_entries"})
    return entries


def hosts_entries(hostnames, hostvars, **options):
    """Filter: entries for ``hostnames`` plus ``extra_entries``; fails on any clash."""
    try:
        return check_entries(all_entries(hostnames, hostvars, **options))
    except HostsEntryError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def hosts_problems(hostnames, hostvars, **options):
    """Filter: the list of problems ``hosts_entries`` would fail on (empty when none)."""
    try:
        return entry_problems(all_entries(hostnames, hostvars, **options))
    except HostsEntryError as exc:
        return [str(exc)]


class FilterModule:
    """havirt.cluster filters for /etc/hosts."""

    def filters(self):
        return {"hosts_entries": hosts_entries, "hosts_problems": hosts_problems}
