# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find the labs' shortcuts in an inventory that does not declare itself a lab."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ansible.errors import AnsibleFilterError, AnsibleUndefinedVariable
from ansible.module_utils.parsing.convert_bool import boolean
from jinja2.exceptions import UndefinedError

DOCUMENTATION = r"""
name: lab_problems
short_description: The labs' fence agents, published secrets and switches, refused outside a lab
version_added: 0.1.0
description:
  - Looks at the variables of each given inventory host for what only the project's labs may use,
    and returns one message per finding (empty when there is none). A host that declares itself a
    lab, with O(lab_variable) set to true, is not looked at.
  - The labs' fence agents (in C(pacemaker_fence_devices) or copied by C(pacemaker_fence_agent_files),
    by name or from the repository's C(tools/lab) and C(tools/vmlab)) power nodes off through an
    unauthenticated API.
  - The labs' secrets are published in the repository; a secret variable (O(secret_variables), and
    every value of a fence device's C(secret_options)) whose value starts with one of
    O(secret_prefixes) is one of them.
  - The labs' switches (O(lab_switches)) let a role go on where a real server must fail.
  - A message names the variable, where in it the value is, and the hosts; it never contains a
    secret's value, so it may be shown (the task that prints it needs no C(no_log)).
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
  lab_variable:
    description: Host variable that declares the inventory a lab (a boolean).
    type: str
    default: havirt_lab
  secret_variables:
    description: Variables that hold secrets.
    type: list
    elements: str
    default: [pacemaker_corosync_authkey, havirt_iscsi_chap_password, havirt_iscsi_mutual_chap_password,
              iscsi_target_chap_password, iscsi_target_mutual_chap_password, iscsi_initiator_chap_password,
              iscsi_initiator_mutual_chap_password, vms_iscsi_chap_password, havirt_pki_ca_passphrase,
              xen_migration_ca_passphrase, drbd_shared_secret, pacemaker_alert_mail_password]
  secret_prefixes:
    description: How the labs' secrets start.
    type: list
    elements: str
    default: [lab-only-, vmlab-only-]
  lab_fence_agents:
    description: The labs' fence agents.
    type: list
    elements: str
    default: [fence_podman, fence_qmp]
  lab_switches:
    description: Boolean variables only a lab may set to true.
    type: list
    elements: str
    default: [havirt_lab_without_kernel_modules, iscsi_initiator_lab_without_kernel_modules,
              ocfs2_lab_without_kernel_modules, drbd_lab_without_kernel_modules]
"""

EXAMPLES = r"""
- name: Refuse the labs' shortcuts outside a lab
  ansible.builtin.assert:
    that: __problems | length == 0
    fail_msg: "{{ __problems | join('; ') }}"
  vars:
    __problems: "{{ groups['cluster'] | havirt.cluster.lab_problems(hostvars) }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: One message per finding (the hosts it was found on at its end), in the order found.
  type: list
  elements: str
  sample:
    - "pacemaker_fence_devices, device fence-lab: agent fence_podman is a lab's fence agent (servdb, servvirt1, servvirt2)"
    - "drbd_shared_secret: its value starts with 'lab-only-', a lab's published secret (servvirt1, servvirt2)"
"""

SECRET_VARIABLES = (
    "pacemaker_corosync_authkey",
    "havirt_iscsi_chap_password",
    "havirt_iscsi_mutual_chap_password",
    "iscsi_target_chap_password",
    "iscsi_target_mutual_chap_password",
    "iscsi_initiator_chap_password",
    "iscsi_initiator_mutual_chap_password",
    "vms_iscsi_chap_password",
    "havirt_pki_ca_passphrase",
    "xen_migration_ca_passphrase",
    "drbd_shared_secret",
    "pacemaker_alert_mail_password",
)
SECRET_PREFIXES = ("lab-only-", "vmlab-only-")
LAB_FENCE_AGENTS = ("fence_podman", "fence_qmp")
LAB_SWITCHES = (
    "havirt_lab_without_kernel_modules",
    "iscsi_initiator_lab_without_kernel_modules",
    "ocfs2_lab_without_kernel_modules",
    "drbd_lab_without_kernel_modules",
)
# Where the labs' own files are in a checkout of the collection (absent from
# an installed collection, and then nothing is under them).
LAB_DIRECTORIES = ("tools/lab", "tools/vmlab")


class LabProblemError(ValueError):
    """A value cannot be read as what it must be."""


def _text(value):
    """The value of a secret as text (a vaulted one decrypted), None when it is no scalar."""
    if value is None or isinstance(value, (Mapping, list, tuple, bool, int, float)):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def is_lab_secret(value, prefixes=SECRET_PREFIXES) -> bool:
    """True when ``value`` is a string that starts like one of the labs' secrets."""
    text = _text(value)
    return text is not None and text.startswith(tuple(prefixes))


def _truth(value, name):
    if value is None:
        return False
    try:
        return boolean(value, strict=True)
    except TypeError as exc:
        raise LabProblemError(f"{name} must be true or false, not '{value}'") from exc


def lab_directories(root=None):
    """The labs' directories of the checkout this filter belongs to."""
    base = Path(root) if root else Path(__file__).resolve().parents[2]
    return tuple(base / part for part in LAB_DIRECTORIES)


def _in_lab_directory(path, directories):
    if not isinstance(path, str) or not path:
        return False
    where = Path(os.path.abspath(os.path.expanduser(path)))
    try:
        where = where.resolve()
    except OSError:
        pass
    return any(where == d.resolve() or d.resolve() in where.parents for d in directories)


# A value with an undefined part (a vault variable while the vault is not loaded):
# ansible-core 2.18's hostvars left that part untemplated; 2.19 and later raise,
# when the value is read (AnsibleUndefinedVariable) or, inside a play, when the
# part is (jinja2's UndefinedError).
UNDEFINED = (AnsibleUndefinedVariable, UndefinedError)


def _device_problems(devices, agents, secret_prefixes):
    found = []
    if not isinstance(devices, list):
        return found
    for index, device in enumerate(devices):
        if not isinstance(device, Mapping):
            continue
        where = f"pacemaker_fence_devices, device {device.get('name') or f'#{index + 1}'}"
        if device.get("agent") in agents:
            found.append(f"{where}: agent {device['agent']} is a lab's fence agent (it powers lab nodes off through "
                         "the lab's own podman or QEMU, never a server)")
        secret_options = device.get("secret_options") or {}
        if isinstance(secret_options, Mapping):
            for option in sorted(secret_options):
                if is_lab_secret(secret_options[option], secret_prefixes):
                    found.append(f"{where}: secret_options.{option} starts with "
                                 f"{_prefix(secret_options[option], secret_prefixes)}, a lab's published secret")
    return found


def _file_problems(files, agents, directories):
    found = []
    if not isinstance(files, list):
        return found
    for index, item in enumerate(files):
        if not isinstance(item, Mapping):
            continue
        src, dest = item.get("src"), item.get("dest")
        names = {os.path.basename(str(p)) for p in (src, dest) if isinstance(p, str)}
        lab_names = sorted(names & set(agents))
        where = f"pacemaker_fence_agent_files, item {index + 1} ({dest or src})"
        if lab_names:
            found.append(f"{where}: {lab_names[0]} is a lab's fence agent (it powers lab nodes off through the "
                         "lab's own podman or QEMU, never a server)")
        elif _in_lab_directory(src, directories):
            found.append(f"{where}: {src} is one of the labs' own files ({', '.join(LAB_DIRECTORIES)})")
    return found


def _secret_problems(value, name, secret_prefixes):
    if is_lab_secret(value, secret_prefixes):
        return [f"{name}: its value starts with {_prefix(value, secret_prefixes)}, a lab's published secret"]
    return []


def _switch_problems(value, name):
    try:
        if _truth(value, name):
            return [f"{name} is true: a role goes on where the kernel cannot load its module "
                    "(only a container lab's nodes, which share their host's kernel, need that)"]
    except LabProblemError as exc:
        return [str(exc)]
    return []


def _check(check, name, hvars, raw, *args):
    """``check`` on the variable ``name``, templated; where a part of it is undefined, on the
    value as the inventory wrote it (``raw``), so an undefined password cannot hide a lab agent."""
    try:
        return check(hvars.get(name), *args)
    except UNDEFINED:
        return check(raw.get(name), *args)


def host_problems(hvars, lab_fence_agents=LAB_FENCE_AGENTS, secret_variables=SECRET_VARIABLES,
                  secret_prefixes=SECRET_PREFIXES, lab_switches=LAB_SWITCHES, directories=None, raw=None):
    """The labs' shortcuts in one host's variables, one message each, without any secret value.
    ``raw``: the same variables untemplated (hostvars.raw_get), read where a value has an undefined part."""
    directories = lab_directories() if directories is None else directories
    raw = raw if isinstance(raw, Mapping) else {}
    agents = tuple(lab_fence_agents)
    found = _check(_device_problems, "pacemaker_fence_devices", hvars, raw, agents, secret_prefixes)
    found += _check(_file_problems, "pacemaker_fence_agent_files", hvars, raw, agents, directories)
    for name in secret_variables:
        found += _check(_secret_problems, name, hvars, raw, name, secret_prefixes)
    for name in lab_switches:
        found += _check(_switch_problems, name, hvars, raw, name)
    return found


def _prefix(value, prefixes):
    text = _text(value) or ""
    return "'" + next(p for p in prefixes if text.startswith(p)) + "'"


def lab_problems(hostnames, hostvars, lab_variable="havirt_lab", secret_variables=SECRET_VARIABLES,
                 secret_prefixes=SECRET_PREFIXES, lab_fence_agents=LAB_FENCE_AGENTS, lab_switches=LAB_SWITCHES):
    """Filter: the labs' shortcuts found on hosts that are not declared a lab, with the hosts of each."""
    if isinstance(hostnames, str) or not isinstance(hostnames, (list, tuple)):
        raise AnsibleFilterError("lab_problems expects a list of inventory host names, got "
                                 + type(hostnames).__name__)
    directories = lab_directories()
    hosts_of = {}
    for host in hostnames:
        hvars = hostvars.get(host)
        if not isinstance(hvars, Mapping):
            hvars = {}
        # Ansible's hostvars: the same variables untemplated (no such thing in a plain dict).
        raw_get = getattr(hostvars, "raw_get", None)
        raw = raw_get(host) if raw_get else {}
        if not isinstance(raw, Mapping):
            raw = {}
        problems = []
        try:
            if _check(_truth, lab_variable, hvars, raw, lab_variable):
                continue
        except LabProblemError as exc:
            problems.append(str(exc))
        problems += host_problems(hvars, lab_fence_agents, secret_variables, secret_prefixes, lab_switches,
                                  directories, raw)
        for problem in problems:
            hosts_of.setdefault(problem, []).append(str(host))
    return [f"{problem} ({', '.join(hosts)})" for problem, hosts in hosts_of.items()]


class FilterModule:
    """havirt.cluster filters that keep the labs' shortcuts out of other inventories."""

    def filters(self):
        return {"lab_problems": lab_problems}
