"""Unit tests for the lab_problems filter: the labs' shortcuts refused outside a lab."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError, AnsibleUndefinedVariable
from ansible.parsing.vault import VaultLib, VaultSecret
from jinja2.exceptions import UndefinedError

from ansible_collections.havirt.cluster.plugins.filter import lab_problems as f

ROOT = Path(__file__).resolve().parents[4]
NODES = ["servdb", "servvirt1", "servvirt2"]
# A production inventory as inventories/example writes it (vault references
# left untemplated, as hostvars gives them while the vault is not loaded).
PRODUCTION = {
    "pacemaker_corosync_authkey": "{{ vault_pacemaker_corosync_authkey }}",
    "pacemaker_fence_devices": [
        {"name": "fence-servdb", "agent": "fence_ipmilan", "targets": ["servdb"],
         "options": {"ip": "192.168.100.10", "username": "fence"},
         "secret_options": {"password": "a-real-ipmi-password"}},
    ],
    "pacemaker_fence_agent_files": [{"src": "/srv/agents/fence_mysite", "dest": "/usr/sbin/fence_mysite"}],
    "havirt_iscsi_chap_password": "a-real-chap-secret",
    "havirt_pki_ca_passphrase": "a-real-passphrase",
    "drbd_shared_secret": "a-real-drbd-secret",
}
LAB_DEVICE = {"name": "fence-lab", "agent": "fence_podman", "targets": NODES, "options": {"ip": "10.210.1.1"}}
LAB_AGENT_FILE = {"src": str(ROOT / "tools" / "lab" / "files" / "fence_podman"), "dest": "/usr/sbin/fence_podman"}
# A lab secret that no message may ever contain.
SECRET = "lab-only-corosync-key-do-not-print-7f3a9c"


def everywhere(**values):
    return {host: dict(PRODUCTION, **values) for host in NODES}


def test_a_production_inventory_passes():
    assert f.lab_problems(NODES, everywhere()) == []


def test_the_lab_fence_agent_is_refused_without_havirt_lab():
    problems = f.lab_problems(NODES, everywhere(pacemaker_fence_devices=[LAB_DEVICE],
                                                pacemaker_fence_agent_files=[LAB_AGENT_FILE]))
    assert problems == [
        "pacemaker_fence_devices, device fence-lab: agent fence_podman is a lab's fence agent (it powers lab nodes off "
        "through the lab's own podman or QEMU, never a server) (servdb, servvirt1, servvirt2)",
        "pacemaker_fence_agent_files, item 1 (/usr/sbin/fence_podman): fence_podman is a lab's fence agent (it "
        "powers lab nodes off through the lab's own podman or QEMU, never a server) (servdb, servvirt1, servvirt2)",
    ]


@pytest.mark.parametrize("declared", [True, "true", "yes"])
def test_the_lab_fence_agent_is_accepted_in_a_lab(declared):
    hostvars = everywhere(havirt_lab=declared, pacemaker_fence_devices=[LAB_DEVICE],
                          pacemaker_fence_agent_files=[LAB_AGENT_FILE], pacemaker_corosync_authkey=SECRET)
    assert f.lab_problems(NODES, hostvars) == []


@pytest.mark.parametrize("declared", [False, "false", None])
def test_havirt_lab_false_is_no_lab(declared):
    hostvars = everywhere(havirt_lab=declared, pacemaker_fence_devices=[dict(LAB_DEVICE, agent="fence_qmp")])
    assert len(f.lab_problems(NODES, hostvars)) == 1


def test_a_lab_agent_copied_under_another_name_is_refused():
    renamed = {"src": str(ROOT / "tools" / "vmlab" / "files" / "fence_qmp"), "dest": "/usr/sbin/fence_mine"}
    # Any of the labs' files, however the path reaches it.
    lab_file = {"src": str(ROOT / "inventories" / "lab" / ".." / ".." / "tools" / "lab" / "files" / "hosts"),
                "dest": "/usr/sbin/fence_other"}
    problems = f.lab_problems(NODES, everywhere(pacemaker_fence_agent_files=[renamed, lab_file]))
    assert [p.split(": ", 1)[0] for p in problems] == [
        "pacemaker_fence_agent_files, item 1 (/usr/sbin/fence_mine)",
        "pacemaker_fence_agent_files, item 2 (/usr/sbin/fence_other)",
    ]
    assert problems[0].split(": ", 1)[1].startswith("fence_qmp is a lab's fence agent")
    assert problems[1].split(": ", 1)[1] == (f"{lab_file['src']} is one of the labs' own files (tools/lab, "
                                             "tools/vmlab) (servdb, servvirt1, servvirt2)")


@pytest.mark.parametrize("name", f.SECRET_VARIABLES)
@pytest.mark.parametrize("prefix", ["lab-only-", "vmlab-only-"])
def test_each_lab_secret_is_refused_and_never_printed(name, prefix):
    value = prefix + SECRET
    problems = f.lab_problems(NODES, everywhere(**{name: value}))
    assert problems == [f"{name}: its value starts with '{prefix}', a lab's published secret "
                        "(servdb, servvirt1, servvirt2)"]
    assert SECRET not in repr(problems)


def test_a_fence_device_secret_option_is_refused_and_never_printed():
    device = dict(PRODUCTION["pacemaker_fence_devices"][0], secret_options={"password": SECRET, "other": "fine"})
    problems = f.lab_problems(NODES, everywhere(pacemaker_fence_devices=[device]))
    assert problems == ["pacemaker_fence_devices, device fence-servdb: secret_options.password starts with "
                        "'lab-only-', a lab's published secret (servdb, servvirt1, servvirt2)"]
    assert SECRET not in repr(problems)


def vaulted(plaintext, monkeypatch):
    """``plaintext`` as an inventory's ``!vault`` value reaches a filter, the vault's password loaded."""
    secret = VaultSecret(b"vault-password")
    vault = VaultLib([("default", secret)])
    try:  # ansible-core 2.19+: decrypted on use with the secrets of the running command
        from ansible.parsing.vault import EncryptedString, VaultSecretsContext
    except ImportError:  # ansible-core 2.18
        from ansible.parsing.yaml.objects import AnsibleVaultEncryptedUnicode
        value = AnsibleVaultEncryptedUnicode.from_plaintext(plaintext, vault, secret)
        value.vault = vault
        return value
    monkeypatch.setattr(VaultSecretsContext, "_current", VaultSecretsContext([("default", secret)]))
    return EncryptedString(ciphertext=vault.encrypt(plaintext, secret).decode())


def test_a_vaulted_lab_secret_is_refused_and_never_printed(monkeypatch):
    problems = f.lab_problems(NODES, everywhere(pacemaker_corosync_authkey=vaulted(SECRET, monkeypatch)))
    assert problems == ["pacemaker_corosync_authkey: its value starts with 'lab-only-', a lab's published secret "
                        "(servdb, servvirt1, servvirt2)"]
    assert SECRET not in repr(problems)


class UndefinedPart(Mapping):
    """A mapping whose ``name`` key cannot be read, as a play's hostvars give a value one of whose
    parts is undefined on ansible-core 2.19+ (``error`` raised: jinja2's in a play, Ansible's outside)."""

    def __init__(self, data, name, error):
        self._data, self._name, self._error = data, name, error

    def __getitem__(self, key):
        if key == self._name:
            raise self._error(f"'vault_{key}' is undefined")
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)


class HostVars(dict):
    """hostvars with Ansible's raw_get: each host's variables as the inventory wrote them."""

    def __init__(self, templated, raw):
        super().__init__(templated)
        self._raw = raw

    def raw_get(self, host):
        return self._raw[host]


@pytest.mark.parametrize("error", [UndefinedError, AnsibleUndefinedVariable])
def test_an_undefined_password_does_not_hide_a_lab_agent(error):
    device = dict(LAB_DEVICE, secret_options={"password": "{{ vault_ipmi_password }}"})
    raw = everywhere(pacemaker_fence_devices=[device], pacemaker_corosync_authkey="{{ vault_authkey }}")
    templated = {host: UndefinedPart(UndefinedPart(values, "pacemaker_fence_devices", error),
                                     "pacemaker_corosync_authkey", error)
                 for host, values in raw.items()}
    problems = f.lab_problems(NODES, HostVars(templated, raw))
    assert problems == ["pacemaker_fence_devices, device fence-lab: agent fence_podman is a lab's fence agent (it "
                        "powers lab nodes off through the lab's own podman or QEMU, never a server) "
                        "(servdb, servvirt1, servvirt2)"]


def test_a_secret_that_only_contains_the_prefix_passes():
    assert f.lab_problems(NODES, everywhere(drbd_shared_secret="not-lab-only-at-the-start")) == []


@pytest.mark.parametrize("name", f.LAB_SWITCHES)
def test_the_kernel_switch_is_refused_outside_a_lab(name):
    problems = f.lab_problems(NODES, everywhere(**{name: True}))
    assert len(problems) == 1 and problems[0].startswith(f"{name} is true: ")
    assert f.lab_problems(NODES, everywhere(**{name: False})) == []
    assert f.lab_problems(NODES, everywhere(havirt_lab=True, **{name: True})) == []


def test_values_that_are_no_boolean_are_reported():
    problems = f.lab_problems(NODES, everywhere(havirt_lab="maybe", havirt_lab_without_kernel_modules="sure",
                                                drbd_shared_secret=SECRET))
    assert problems == [
        "havirt_lab must be true or false, not 'maybe' (servdb, servvirt1, servvirt2)",
        "drbd_shared_secret: its value starts with 'lab-only-', a lab's published secret (servdb, servvirt1, servvirt2)",
        "havirt_lab_without_kernel_modules must be true or false, not 'sure' (servdb, servvirt1, servvirt2)",
    ]


def test_each_problem_once_with_the_hosts_that_have_it():
    hostvars = everywhere()
    hostvars["servvirt2"] = dict(PRODUCTION, drbd_shared_secret=SECRET)
    hostvars["servvirt1"] = dict(PRODUCTION, drbd_shared_secret=SECRET, havirt_lab=True)
    hostvars["servdb"] = dict(PRODUCTION, havirt_pki_ca_passphrase="vmlab-only-x")
    assert f.lab_problems(NODES, hostvars) == [
        "havirt_pki_ca_passphrase: its value starts with 'vmlab-only-', a lab's published secret (servdb)",
        "drbd_shared_secret: its value starts with 'lab-only-', a lab's published secret (servvirt2)",
    ]


def test_options_replace_the_defaults():
    hostvars = everywhere(my_secret="test-only-x", pacemaker_fence_devices=[dict(LAB_DEVICE, agent="fence_mylab")],
                          site_lab=True)
    assert f.lab_problems(NODES, hostvars, lab_variable="site_lab") == []
    assert [p.split(":")[0] for p in f.lab_problems(NODES, hostvars, lab_variable="other",
                                                    secret_variables=["my_secret"], secret_prefixes=["test-only-"],
                                                    lab_fence_agents=["fence_mylab"])] == [
        "pacemaker_fence_devices, device fence-lab", "my_secret"]


def test_hosts_without_variables_and_odd_shapes_pass():
    hostvars = {"servdb": {}, "servvirt1": {"pacemaker_fence_devices": "not a list",
                                            "pacemaker_fence_agent_files": [None, {"dest": 3}]}}
    assert f.lab_problems(NODES, hostvars) == []


@pytest.mark.parametrize("hosts", ["servdb", None, {"servdb": {}}])
def test_input_must_be_a_list_of_hosts(hosts):
    with pytest.raises(AnsibleFilterError, match="expects a list of inventory host names"):
        f.lab_problems(hosts, everywhere())


def test_the_documented_defaults_are_the_filter_defaults():
    options = yaml.safe_load(f.DOCUMENTATION)["options"]
    assert options["secret_variables"]["default"] == list(f.SECRET_VARIABLES)
    assert options["secret_prefixes"]["default"] == list(f.SECRET_PREFIXES)
    assert options["lab_fence_agents"]["default"] == list(f.LAB_FENCE_AGENTS)
    assert options["lab_switches"]["default"] == list(f.LAB_SWITCHES)


def _no_log_options(options, path=""):
    for name, spec in (options or {}).items():
        if spec.get("no_log"):
            yield path + name
        yield from _no_log_options(spec.get("options"), f"{path}{name}.")


def test_every_secret_of_the_roles_is_checked():
    """Each no_log option of a role's argument spec is in SECRET_VARIABLES, and so is the
    shared havirt_* variable its default reads; fence devices' secret_options are read by
    the filter itself. A new secret fails here until the filter knows it."""
    checked = set(f.SECRET_VARIABLES) | {"pacemaker_fence_devices.secret_options"}
    seen = set()
    for spec_file in sorted(ROOT.glob("roles/*/meta/argument_specs.yml")):
        defaults_file = spec_file.parents[1] / "defaults" / "main.yml"
        defaults = yaml.safe_load(defaults_file.read_text()) or {} if defaults_file.exists() else {}
        for entry in yaml.safe_load(spec_file.read_text())["argument_specs"].values():
            for name in _no_log_options(entry.get("options")):
                seen.add(name)
                assert name in checked, f"{spec_file}: {name} is a secret the lab_problems filter does not check"
                for shared in re.findall(r"\b(havirt_\w+)", str(defaults.get(name, ""))):
                    assert shared in checked, f"{defaults_file}: {name} reads {shared}, not checked"
    assert {"pacemaker_corosync_authkey", "drbd_shared_secret", "pacemaker_fence_devices.secret_options"} <= seen
