# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cloud-init's NoCloud seed of a VM (havirt_vms entries with cloud_init):
what is wrong with the settings, the three documents of the seed, and
which hypervisor lacks which seed. The rules and documents live here, with
unit tests; the vms role only writes what these return. Documented in the
.yml files beside this file."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import uuid
from collections.abc import Mapping

import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.module_utils.inventory_rules import as_int, ip_version

KEYS = ("user", "ssh_keys", "prefix", "gateway", "dns", "search", "domain", "user_data", "instance_id")
USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
DOMAIN = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                    r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
INSTANCE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# Ansible's to_uuid namespace: the domain XML's <uuid> is ``name | to_uuid``.
ANSIBLE_UUID_NAMESPACE = uuid.UUID("361E6D51-FAEC-444A-9079-341386DA8E2E")
KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
             "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")


def vm_mac(vm):
    """The VM's MAC: its entry's, else 52:54:00 and the first three bytes
    of the MD5 of its name (stable across runs and hypervisors)."""
    if isinstance(vm, dict) and vm.get("mac"):
        return str(vm["mac"]).lower()
    name = vm.get("name") if isinstance(vm, dict) else vm
    digest = hashlib.md5(str(name).encode("utf-8")).hexdigest()  # nosec: a name, not a secret
    return "52:54:00:" + ":".join(digest[i:i + 2] for i in (0, 2, 4))


def _wanted(vm):
    value = vm.get("cloud_init", False) if isinstance(vm, dict) else False
    return value is True or isinstance(value, dict)


def vms_with_seed(vms):
    """The entries of havirt_vms that get a seed (cloud_init: true or a
    dict), marked absent or not."""
    return [vm for vm in vms or [] if _wanted(vm)]


def _settings(vm, defaults):
    """The defaults (vms_cloud_init_*, without the prefix) overridden by the
    VM's own cloud_init dict."""
    own = vm.get("cloud_init") if isinstance(vm.get("cloud_init"), dict) else {}
    merged = {key: (defaults or {}).get(key) for key in KEYS}
    merged.update({key: value for key, value in own.items() if value is not None})
    return merged


def _list_of(value, what):
    return isinstance(value, (list, tuple)) and all(isinstance(item, str) and what(item) for item in value)


def _is_address(text):
    return ip_version(text) == 4


def _user_data_problem(path, label):
    if not isinstance(path, str) or not path:
        return "%s: cloud_init.user_data must be the path of a file on the controller, got %r" % (label, path)
    if not os.path.isfile(path):
        return "%s: cloud_init.user_data %s is not a file on the controller" % (label, path)
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if not text.startswith("#cloud-config"):
        return ("%s: cloud_init.user_data %s must be cloud-config (its first line #cloud-config): the role merges it "
                "with the user and the host name it writes" % (label, path))
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return "%s: cloud_init.user_data %s is not YAML: %s" % (label, path, str(exc).splitlines()[0])
    if data is not None and not isinstance(data, dict):
        return "%s: cloud_init.user_data %s must hold a mapping (cloud-config keys)" % (label, path)
    return None


def vm_cloud_init_problems(vms, defaults=None):
    """Every problem of the cloud-init settings of ``vms`` (havirt_vms) with
    ``defaults`` (vms_cloud_init_* without the prefix), one sentence each."""
    if not isinstance(vms, (list, tuple)):
        raise AnsibleFilterError("vm_cloud_init_problems: havirt_vms must be a list, got %r" % (vms,))
    problems = []
    for index, vm in enumerate(vms):
        if not isinstance(vm, dict) or "cloud_init" not in vm:
            continue
        label = str(vm.get("name") or "havirt_vms[%d]" % index)
        own = vm["cloud_init"]
        if not isinstance(own, (bool, dict)):
            problems.append("%s: cloud_init must be true, false or a dict of settings (%s), got %r"
                            % (label, ", ".join(KEYS), own))
            continue
        if isinstance(own, dict):
            unknown = sorted(set(map(str, own)) - set(KEYS))
            if unknown:
                problems.append("%s: cloud_init has no setting %s (it knows %s)"
                                % (label, ", ".join(unknown), ", ".join(KEYS)))
        if not _wanted(vm):
            continue
        problems += _settings_problems(vm, label, _settings(vm, defaults))
    return problems


def _settings_problems(vm, label, s):
    problems = []
    if not isinstance(s["user"], str) or not USER.match(s["user"]):
        problems.append("%s: the cloud-init user must be a Linux user name (lower case letters, digits, _ and -, "
                        "at most 32), got %r" % (label, s["user"]))
    keys = s["ssh_keys"] or []
    if not _list_of(keys, lambda key: key.split(" ", 1)[0] in KEY_TYPES and len(key.split()) >= 2):
        problems.append("%s: cloud-init ssh_keys must be a list of public keys (one line of a .pub file each, "
                        "for example 'ssh-ed25519 AAAA... admin@desk'), got %r" % (label, keys))
    elif not keys:
        problems.append("%s: cloud-init needs at least one SSH key for its user %s (vms_cloud_init_ssh_keys or "
                        "cloud_init.ssh_keys): the seed sets no password, so nobody could log in"
                        % (label, s["user"]))
    address = vm.get("address")
    if address is not None and not (isinstance(address, str) and _is_address(address)):
        problems.append("%s: address must be an IPv4 address for cloud-init's network configuration, got %r"
                        % (label, address))
    prefix = as_int(s["prefix"])
    if prefix is None or not 1 <= prefix <= 32:
        problems.append("%s: the cloud-init prefix must be a whole number from 1 to 32 (the guest network's "
                        "netmask length), got %r" % (label, s["prefix"]))
    gateway = s["gateway"] or ""
    network = None
    if isinstance(address, str) and _is_address(address) and prefix is not None and 1 <= prefix <= 32:
        network = ipaddress.IPv4Network("%s/%d" % (address, prefix), strict=False)
    if not isinstance(gateway, str) or (gateway and not _is_address(gateway)):
        problems.append("%s: the cloud-init gateway must be an IPv4 address or empty, got %r" % (label, gateway))
    elif gateway and network and ipaddress.IPv4Address(gateway) not in network:
        problems.append("%s: the gateway %s is not on the guest's network %s" % (label, gateway, network))
    if not _list_of(s["dns"] or [], _is_address):
        problems.append("%s: the cloud-init dns must be a list of IPv4 addresses, got %r" % (label, s["dns"]))
    if not _list_of(s["search"] or [], DOMAIN.match):
        problems.append("%s: the cloud-init search must be a list of domain names, got %r" % (label, s["search"]))
    if s["domain"] and not (isinstance(s["domain"], str) and DOMAIN.match(s["domain"])):
        problems.append("%s: the cloud-init domain must be a domain name, got %r" % (label, s["domain"]))
    if s["instance_id"] and not (isinstance(s["instance_id"], str) and INSTANCE_ID.match(s["instance_id"])):
        problems.append("%s: cloud_init.instance_id must be 1 to 128 letters, digits, '.', '_' and '-', got %r"
                        % (label, s["instance_id"]))
    if s["user_data"]:
        problem = _user_data_problem(s["user_data"], label)
        if problem:
            problems.append(problem)
    return problems


def _plain(data):
    """The same data in the built-in types: the inventory's strings, lists
    and dicts reach a filter as Ansible's own subclasses (tagged with where
    they came from), which yaml.safe_dump refuses to represent."""
    if isinstance(data, Mapping):
        return {_plain(k): _plain(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_plain(v) for v in data]
    for kind in (bool, str, int, float):
        if isinstance(data, kind):
            return kind(data)
    return data


def _dump(data):
    return yaml.safe_dump(_plain(data), default_flow_style=False, sort_keys=False)


def _user_data(vm, s, hostname, fqdn):
    config = {
        "hostname": hostname,
        "fqdn": fqdn,
        "prefer_fqdn_over_hostname": False,
        "manage_etc_hosts": True,
        "ssh_pwauth": False,
        "disable_root": True,
        "users": [{
            "name": s["user"],
            "groups": ["sudo"],
            "sudo": "ALL=(ALL) NOPASSWD:ALL",
            "shell": "/bin/bash",
            "lock_passwd": True,
            "ssh_authorized_keys": list(s["ssh_keys"] or []),
        }],
    }
    if s["user_data"]:
        with open(s["user_data"], encoding="utf-8") as handle:
            extra = yaml.safe_load(handle.read()) or {}
        for key, value in extra.items():
            if key == "users" and isinstance(value, list):
                config["users"] = config["users"] + value
            else:
                config[key] = value
    return "#cloud-config\n" + _dump(config)


def _network_config(vm, s):
    nic = {"match": {"macaddress": vm_mac(vm)}}
    address = vm.get("address")
    if address:
        nic["addresses"] = ["%s/%d" % (address, as_int(s["prefix"]))]
        if s["gateway"]:
            # 0.0.0.0/0, not netplan's "default": cloud-init's own v2 parser (the
            # networkd renderer of Debian 13's cloud-init 25.1) refuses "default" as
            # not an IP address and configures no network at all.
            nic["routes"] = [{"to": "0.0.0.0/0", "via": s["gateway"]}]
    else:
        nic["dhcp4"] = True
    if s["dns"] or s["search"]:
        nic["nameservers"] = {key: list(s[name]) for key, name in (("addresses", "dns"), ("search", "search"))
                              if s[name]}
    return _dump({"version": 2, "ethernets": {"nic0": nic}})


def vm_cloud_init_seed(vm, defaults=None):
    """The NoCloud seed of ``vm``: {'meta-data', 'user-data',
    'network-config'}, each the file's text. The instance id (what makes
    cloud-init treat a boot as the first) is the VM's libvirt UUID unless
    the entry names one; the same inventory always gives the same text."""
    if not isinstance(vm, dict) or not _wanted(vm):
        name = vm.get("name") if isinstance(vm, dict) else vm
        raise AnsibleFilterError("vm_cloud_init_seed: %r has no cloud_init" % (name,))
    s = _settings(vm, defaults)
    hostname = vm["name"]
    fqdn = "%s.%s" % (hostname, s["domain"]) if s["domain"] else hostname
    instance_id = s["instance_id"] or str(uuid.uuid5(ANSIBLE_UUID_NAMESPACE, hostname))
    meta = _dump({"instance-id": instance_id, "local-hostname": hostname})
    return {"meta-data": meta, "user-data": _user_data(vm, s, hostname, fqdn), "network-config": _network_config(vm, s)}


def _seed_name(item):
    path = item.get("path", "") if isinstance(item, dict) else str(item)
    name = os.path.basename(path)
    return name[:-len(".iso")] if name.endswith(".iso") else name


def vm_seed_plan(seeded, hosts, present):
    """Which seed goes where. ``seeded``: the VM names that need a seed;
    ``hosts``: the hypervisors; ``present``: {host: the seeds it has, as
    VM names, NAME.iso paths or ansible.builtin.find's files}. Returns {'build': [names no hypervisor has: made from the
    inventory], 'fetch': {name: a hypervisor that has it, when another
    lacks it: copied from there, never made again}, 'missing': {host:
    [names it lacks]}}."""
    present = {host: {_seed_name(item) for item in (present or {}).get(host) or []} for host in hosts}
    build, fetch, missing = [], {}, {}
    for name in seeded:
        holders = [host for host in hosts if name in present[host]]
        lacking = [host for host in hosts if name not in present[host]]
        if not lacking:
            continue
        if holders:
            fetch[name] = holders[0]
        else:
            build.append(name)
        for host in lacking:
            missing.setdefault(host, []).append(name)
    return {"build": build, "fetch": fetch, "missing": missing}


class FilterModule:
    def filters(self):
        return {
            "vm_mac": vm_mac,
            "vms_with_seed": vms_with_seed,
            "vm_cloud_init_problems": vm_cloud_init_problems,
            "vm_cloud_init_seed": vm_cloud_init_seed,
            "vm_seed_plan": vm_seed_plan,
        }
