# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The small rules every role's checks of the inventory share: numbers
given as text, IP addresses, iSCSI names, a group's hosts and their
addresses. Plain Python for the *_problems filters, one definition each."""

from __future__ import annotations

import ipaddress
import re

# RFC 3720 3.2.6.3: iqn.YYYY-MM.reversed.domain[:anything], lower case
# (iSCSI names are compared after folding to lower case).
IQN = re.compile(r"^iqn\.\d{4}-\d{2}\.[a-z0-9.-]+(:[^ ]+)?$")
# ... or eui. and 16 hex digits (an initiator may have either).
EUI = re.compile(r"^eui\.[0-9A-Fa-f]{16}$")


def as_int(value):
    """An int from an int or a text of digits (with a sign); None otherwise, bool included."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-+").isdigit():
        return int(value.strip())
    return None


def ip_version(value):
    """4 or 6 for an IP address (text, no prefix length, no blank around it), None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.ip_address(value).version
    except ValueError:
        return None


def is_iqn(value):
    return isinstance(value, str) and bool(IQN.match(value))


def is_iscsi_name(value):
    return isinstance(value, str) and bool(IQN.match(value) or EUI.match(value))


def group_hosts(groups, name):
    """The hosts of inventory group ``name``, [] when it is missing."""
    hosts = (groups or {}).get(name) if isinstance(name, str) else None
    return list(hosts or [])


def group_list(groups):
    """The inventory's own groups, sorted, for a message."""
    return ", ".join(sorted(set(groups or {}) - {"all", "ungrouped"})) or "none"


def not_in_group(host, hosts, group, why):
    """The sentence for a ``host`` a role runs on that is not in its ``group`` (``why``: what runs where), or
    None when it is in it."""
    if host in (hosts or []):
        return None
    return "%s is not in group '%s' (%s): %s." % (host, group, ", ".join(hosts or []) or "empty", why)


def address_problems(hosts, hostvars, variable, purpose):
    """One sentence per host whose ``variable`` is missing or not an IP address."""
    problems = []
    for host in hosts:
        values = hostvars[host] if host in hostvars else {}
        value = values.get(variable)
        if value is None or value == "":
            problems.append("%s has no %s in the inventory (%s)" % (host, variable, purpose))
        elif ip_version(value) is None:
            problems.append("%s: %s %r is not an IP address (%s)" % (host, variable, value, purpose))
    return problems
