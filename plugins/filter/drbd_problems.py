# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is wrong with the drbd role's hosts and resources before any host
is touched, one sentence per problem naming the resource or host.
Documented in drbd_problems.yml beside this file."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.module_utils.inventory_rules import as_int as _int, ip_version
from ansible_collections.havirt.cluster.plugins.module_utils.pacemaker_status import duration_seconds

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
MAX_MINOR = 1048575


def _backing(resource, host):
    disks = resource.get("disks") or {}
    return (disks.get(host) if isinstance(disks, dict) else None) or resource.get("disk") or ""


def _resource_problems(resource, label, hosts):
    problems = []
    if not isinstance(resource.get("name"), str) or not NAME.match(resource["name"]):
        problems.append("%s: the name must be 1 to 63 letters, digits, '-' and '_', starting with a letter or digit"
                        % label)
    minor = _int(resource.get("minor"))
    if minor is None or not 0 <= minor <= MAX_MINOR:
        problems.append("%s: minor %r must be a number from 0 to %d (/dev/drbdN)" % (label, resource.get("minor"), MAX_MINOR))
    port = _int(resource.get("port"))
    if port is None or not 1024 <= port <= 65535:
        problems.append("%s: port %r must be a number from 1024 to 65535" % (label, resource.get("port")))
    for host in hosts:
        device = _backing(resource, host)
        if not device:
            problems.append("%s: no backing device for %s: give disk (the same path on both hosts) or disks "
                            "({host: device})" % (label, host))
        elif not str(device).startswith("/dev/") or str(device) == "/dev/":
            problems.append("%s: the backing device %r of %s must be a path under /dev" % (label, device, host))
    return problems


def drbd_problems(resources, hosts, hostvars, address_variable="havirt_cluster_address", group="hypervisors",
                  initialize_nonempty=()):
    """Every problem of the DRBD resources and hosts, one sentence each; empty when none."""
    if not isinstance(resources, (list, tuple)):
        raise AnsibleFilterError("drbd_problems: havirt_drbd_resources must be a list, got %r" % (resources,))
    hosts = sorted(hosts or [])
    problems = []
    if len(hosts) != 2:
        problems.append("DRBD replicates between exactly two hosts: group '%s' has %s"
                        % (group, ", ".join(hosts) or "none"))
    for host in hosts:
        address = (hostvars[host] if host in hostvars else {}).get(address_variable)
        if ip_version(address) != 4:
            problems.append("%s: %s %r is not an IPv4 address (the resources' configuration takes IPv4 here)"
                            % (host, address_variable, address))
    seen = {}
    for index, resource in enumerate(resources):
        if not isinstance(resource, dict):
            problems.append("havirt_drbd_resources[%d]: a resource is a dict (name, minor, port, disk), got %r"
                            % (index, resource))
            continue
        label = "DRBD resource %s" % (resource.get("name") or "havirt_drbd_resources[%d]" % index)
        problems += _resource_problems(resource, label, hosts)
        for key in ("name", "minor", "port"):
            value = resource.get(key) if key == "name" else _int(resource.get(key))
            if value is None:
                continue
            first, first_label = seen.setdefault((key, value), (index, label))
            if first != index:
                problems.append("%s: %s %s is already %s's: each resource needs its own"
                                % (label, key, value, first_label))
    names = [resource.get("name") for resource in resources if isinstance(resource, dict)]
    unknown = [name for name in initialize_nonempty or [] if name not in names]
    if unknown:
        problems.append("drbd_initialize_nonempty names %s, which havirt_drbd_resources does not (%s)"
                        % (", ".join(map(str, unknown)), ", ".join(map(str, names)) or "none"))
    return problems


def drbd_settings_problems(settings):
    """The shared secret, the fencing policy and the fence-peer handler's wait, one sentence per problem; the
    secret is never in a message."""
    if not isinstance(settings, dict):
        raise AnsibleFilterError("drbd_settings_problems: the settings must be a dict, got %r" % (settings,))
    problems = []
    secret = settings.get("shared_secret")
    if not isinstance(secret, str) or not 16 <= len(secret) <= 64 or re.search(r'["\s]', secret):
        problems.append("drbd_shared_secret must be 16 to 64 characters without quotes or spaces (from ansible-vault; "
                        "the peers authenticate each other with it)")
    fencing = settings.get("fencing", "resource-and-stonith")
    if fencing != "dont-care" and not settings.get("fence_devices"):
        problems.append("drbd_fencing '%s' freezes a resource's I/O until the cluster manager has fenced the lost "
                        "peer: the pacemaker role needs fence devices (pacemaker_fence_devices). Without a cluster "
                        "manager set drbd_fencing: dont-care, and know that then both nodes may write after a network "
                        "split" % fencing)
    wait = _int(settings.get("fence_peer_timeout_s"))
    promote_spec = settings.get("promote_timeout", "90s")
    promote = duration_seconds(promote_spec)
    if wait is None or wait < 1:
        problems.append("drbd_fence_peer_timeout_s is %s: give a number of seconds, at least 1 and below the DRBD "
                        "clone's promote timeout (pacemaker_drbd_timeouts.promote, %s)"
                        % (settings.get("fence_peer_timeout_s"), promote_spec))
    elif promote is not None and wait >= promote:
        problems.append("drbd_fence_peer_timeout_s %d is not below the DRBD clone's promote timeout "
                        "(pacemaker_drbd_timeouts.promote, %s): pacemaker would give up the promotion while the "
                        "handler still waits for the fencing" % (wait, promote_spec))
    return problems


class FilterModule:
    """havirt.cluster filters for the drbd role."""

    def filters(self):
        return {"drbd_problems": drbd_problems, "drbd_settings_problems": drbd_settings_problems}
