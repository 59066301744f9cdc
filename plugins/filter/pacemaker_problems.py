# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is wrong with the pacemaker role's inventory before any host is
touched: the nodes, their ring addresses, corosync's key and the fence
devices, one sentence per problem. The key and the devices' secret
options are read here only and never written into a message."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.module_utils.inventory_rules import address_problems

DOCUMENTATION = r"""
name: pacemaker_problems
short_description: What is wrong with the cluster manager's nodes, key and fencing, before any host is touched
version_added: 0.1.0
author: havirt.cluster contributors (@havirt)
description:
  - "Checks, for the pacemaker role: three or more nodes (with two and no quorum device, the survivor of a failure
    cannot tell a dead peer from a cut link); every node's ring address an IP address; corosync's key a text of at
    least 128 characters; each fence device with a unique name, an agent named C(fence_*) and targets that are
    nodes of the cluster; a fence device at all unless O(allow_no_fencing); every node the target of a device;
    each alert recipient a mail address or an http(s) URL; the mail relay's user and password together, the
    password never sent without STARTTLS to anything but the node itself, its CA file PEM certificates."
  - Returns every problem, one sentence each; an empty list means none. The key, the devices'
    C(secret_options) and the relay's password are never in a message, so the task needs no C(no_log) (which would
    hide the message).
options:
  _input:
    description: The cluster's nodes (inventory names).
    type: list
    elements: str
    required: true
  hostvars:
    description: C(hostvars), where each node's address is read.
    type: dict
    required: true
  group:
    description: The nodes' group, for the messages.
    type: str
    default: cluster
  address_variable:
    description: The variable that holds each node's ring address.
    type: str
    default: havirt_cluster_address
  authkey:
    description: corosync's shared key (pacemaker_corosync_authkey); None when it is not set.
    type: str
  fence_devices:
    description: pacemaker_fence_devices.
    type: list
    elements: dict
    default: []
  allow_no_fencing:
    description: pacemaker_allow_no_fencing.
    type: bool
    default: false
  alert_mail_to:
    description: pacemaker_alert_mail_to, each a mail address (C(user@domain)).
    type: list
    elements: str
    default: []
  alert_webhooks:
    description: pacemaker_alert_webhooks, each an C(http://) or C(https://) URL; never in a message (a token may be
      part of it).
    type: list
    elements: str
    default: []
  alert_relay:
    description:
      - "The mail relay: C(relay) (pacemaker_alert_mail_relay), C(starttls), C(user), C(password) and C(ca_file) (a
        PEM file on the controller, read here)."
    type: dict
"""

EXAMPLES = r"""
- name: Check the cluster's nodes, key and fencing
  vars:
    __problems: >-
      {{ __pacemaker_nodes | havirt.cluster.pacemaker_problems(hostvars, group=pacemaker_cluster_group,
         address_variable=pacemaker_address_variable, authkey=pacemaker_corosync_authkey | default(none),
         fence_devices=pacemaker_fence_devices, allow_no_fencing=pacemaker_allow_no_fencing) }}
  ansible.builtin.assert:
    that: __problems | length == 0
    fail_msg: "{{ __problems | join(' ') }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: One sentence per problem; empty when there is none.
  type: list
  elements: str
  sample:
    - "No fence device targets servdb: the cluster could never recover the VMs of such a node when it fails (its
      resources would stay blocked until someone confirms it is off). Add it to a device's targets."
"""

DEVICE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
AGENT = re.compile(r"^fence_[A-Za-z0-9_]+$")
MAIL_ADDRESS = re.compile(r"[^@\s<>,;\"']+@[A-Za-z0-9.-]+")
AUTHKEY_MIN = 128


def _device_problems(devices, nodes, group):
    problems, seen = [], {}
    for index, device in enumerate(devices):
        if not isinstance(device, Mapping):
            problems.append("pacemaker_fence_devices[%d] must be a dict (name, agent, targets, options), got a %s."
                            % (index, type(device).__name__))
            continue
        name = device.get("name")
        label = "Fence device %s" % (name if isinstance(name, str) and name else "pacemaker_fence_devices[%d]" % index)
        if not isinstance(name, str) or not DEVICE_NAME.match(name):
            problems.append("%s: the name must start with a letter or '_' and hold only letters, digits, '_', '.', "
                            "'-' (got %r)." % (label, name))
        elif name in seen:
            problems.append("%s: the name is already pacemaker_fence_devices[%d]'s: each device needs its own."
                            % (label, seen[name]))
        else:
            seen[name] = index
        agent = device.get("agent")
        if not isinstance(agent, str) or not AGENT.match(agent):
            problems.append("%s: the agent must be a fence agent's name, fence_* (got %r)." % (label, agent))
        targets = device.get("targets")
        if not isinstance(targets, (list, tuple)) or not targets:
            problems.append("%s: targets must list the nodes it can fence (got %r)." % (label, targets))
            continue
        strangers = [str(target) for target in targets if target not in nodes]
        if strangers:
            problems.append("%s: targets %s are not nodes of group '%s' (%s)."
                            % (label, ", ".join(strangers), group, ", ".join(nodes)))
    return problems


def _alert_problems(mail_to, webhooks):
    """The alert recipients: mail addresses and http(s) URLs (a URL is never
    quoted: it may carry the webhook's token)."""
    problems = []
    for name, value in (("pacemaker_alert_mail_to", mail_to), ("pacemaker_alert_webhooks", webhooks)):
        if value is not None and not isinstance(value, (list, tuple)):
            problems.append("%s must be a list, got a %s." % (name, type(value).__name__))
    if problems:
        return problems
    bad = [str(address) for address in mail_to or []
           if not isinstance(address, str) or not MAIL_ADDRESS.fullmatch(address)]
    if bad:
        problems.append("pacemaker_alert_mail_to: %s %s not a mail address (user@domain, nothing else)."
                        % (", ".join(repr(address) for address in bad), "is" if len(bad) == 1 else "are"))
    for index, url in enumerate(webhooks or []):
        if not isinstance(url, str) or not re.match(r"https?://[^/\s]+", url) or re.search(r"\s", url):
            problems.append("pacemaker_alert_webhooks[%d] is not an http:// or https:// URL (not quoted here: it may "
                            "hold a token)." % index)
    return problems


def _relay_problems(relay):
    """The relay's login and CA (pacemaker_alert_mail_user, _password,
    _starttls, _ca_file, _relay): a user and a password together, never
    sent in clear to anything but the node itself, and a CA file that is
    PEM certificates. The password is never quoted."""
    relay = relay or {}
    problems = []
    user, password = relay.get("user") or "", relay.get("password") or ""
    if bool(user) != bool(password):
        problems.append("pacemaker_alert_mail_user and pacemaker_alert_mail_password go together: set both (the "
                        "password in ansible-vault) or neither.")
    host = str(relay.get("relay") or "localhost")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: only localhost is this node for sure
        loopback = host == "localhost"
    if password and not relay.get("starttls") and not loopback:
        problems.append("pacemaker_alert_mail_password would cross the network in clear to %s: set "
                        "pacemaker_alert_mail_starttls: true (the relay's certificate is then checked against the "
                        "nodes' CAs or pacemaker_alert_mail_ca_file)." % host)
    ca_file = relay.get("ca_file") or ""
    if ca_file:
        try:
            with open(ca_file) as pem:
                is_pem = "-----BEGIN CERTIFICATE-----" in pem.read()
        except (OSError, UnicodeDecodeError) as error:
            problems.append("pacemaker_alert_mail_ca_file %s cannot be read on the controller: %s."
                            % (ca_file, getattr(error, "strerror", None) or error))
        else:
            if not is_pem:
                problems.append("pacemaker_alert_mail_ca_file %s holds no PEM certificate (-----BEGIN "
                                "CERTIFICATE-----)." % ca_file)
        if not relay.get("starttls"):
            problems.append("pacemaker_alert_mail_ca_file is used only with pacemaker_alert_mail_starttls: true.")
    return problems


def pacemaker_problems(nodes, hostvars, group="cluster", address_variable="havirt_cluster_address",
                       authkey=None, fence_devices=(), allow_no_fencing=False, alert_mail_to=(), alert_webhooks=(),
                       alert_relay=None):
    """Every problem of the pacemaker role's inventory, one sentence each; empty when none."""
    if not isinstance(nodes, (list, tuple)):
        raise AnsibleFilterError("pacemaker_problems: the nodes must be a list, got %r" % (nodes,))
    if fence_devices is None:
        fence_devices = []
    if not isinstance(fence_devices, (list, tuple)):
        raise AnsibleFilterError("pacemaker_problems: pacemaker_fence_devices must be a list of dicts, got a %s"
                                 % type(fence_devices).__name__)
    nodes = list(nodes)
    problems = []
    if len(nodes) < 3:
        problems.append(
            "pacemaker needs three or more nodes in group '%s'; it has %d (%s). With two nodes and no quorum device, "
            "the survivor of a failure cannot tell a dead peer from a cut link, and both may run the same VMs. Add a "
            "third node (the storage node votes without running VMs); this role does not set up a quorum device "
            "(corosync-qdevice)." % (group, len(nodes), ", ".join(nodes)))
    problems += ["%s." % problem for problem in address_problems(nodes, hostvars, address_variable, "corosync's ring address")]
    if not isinstance(authkey, str) or len(authkey) < AUTHKEY_MIN:
        problems.append(
            "pacemaker_corosync_authkey must be set to a string of at least %d characters, kept in ansible-vault (it "
            "encrypts and authenticates all cluster traffic). Generate one with: openssl rand -base64 192 | tr -d "
            "'\\n'" % AUTHKEY_MIN)
    problems += _device_problems(fence_devices, nodes, group)
    if not fence_devices and not allow_no_fencing:
        problems.append(
            "No fence device (pacemaker_fence_devices is empty). Without fencing, a hypervisor that hangs or is cut "
            "off may still run its VMs while the other starts them too: two QEMUs writing the same disk destroy it. "
            "Configure a device (IPMI, a hypervisor API or SBD: see the pacemaker role's README), or set "
            "pacemaker_allow_no_fencing: true to accept that risk explicitly.")
    targeted = {target for device in fence_devices if isinstance(device, Mapping)
                for target in (device.get("targets") or []) if isinstance(device.get("targets"), (list, tuple))}
    orphans = [node for node in nodes if node not in targeted]
    if fence_devices and orphans:
        problems.append(
            "No fence device targets %s: the cluster could never recover the VMs of such a node when it fails (its "
            "resources would stay blocked until someone confirms it is off). Add it to a device's targets."
            % ", ".join(orphans))
    problems += _alert_problems(alert_mail_to, alert_webhooks)
    problems += _relay_problems(alert_relay)
    return problems


class FilterModule:
    """havirt.cluster filters for the pacemaker role."""

    def filters(self):
        return {"pacemaker_problems": pacemaker_problems}
