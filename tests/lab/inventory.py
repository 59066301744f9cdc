"""The lab inventory as the playbooks see it, for the verify tests.

Ansible's own API loads and templates the inventory (group_vars included),
so the tests read every address and setting from the same place as the
roles do: nothing is repeated here.
"""

from __future__ import annotations

import functools
import os
import shlex
from pathlib import Path

import testinfra

PROJECT = Path(__file__).resolve().parents[2]


def inventory_path() -> Path:
    return Path(os.environ.get("HAVIRT_TEST_INVENTORY", PROJECT / "inventories" / "lab"))


@functools.lru_cache(maxsize=None)
def _manager():
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    # Collections' filters (ansible.utils...) are found through the loader
    # that importing tests.lab installed, as ansible-playbook finds them.
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(inventory_path())])
    return inventory, VariableManager(loader=loader, inventory=inventory), loader


def group(name: str) -> list[str]:
    inventory = _manager()[0]
    return sorted(inventory.get_groups_dict().get(name, []))


@functools.lru_cache(maxsize=None)
def hostvars(name: str) -> dict:
    """Templated variables of one inventory host."""
    from ansible.template import Templar

    inventory, variables, loader = _manager()
    raw = variables.get_vars(host=inventory.get_host(name))
    templar = Templar(loader=loader, variables=raw)
    return templar.template(raw, fail_on_undefined=False)


@functools.lru_cache(maxsize=None)
def node(name: str):
    """A testinfra host reaching the node over SSH as Ansible does."""
    hv = hostvars(name)
    key = Path(hv["ansible_ssh_private_key_file"]).resolve()
    port = f":{hv['ansible_port']}" if hv.get("ansible_port") else ""
    return testinfra.get_host(
        f"ssh://{hv.get('ansible_user', 'root')}@{hv['ansible_host']}{port}",
        ssh_identity_file=str(key),
        ssh_extra_args=hv.get("ansible_ssh_common_args", ""),
    )


def ssh_argv(name: str) -> list[str]:
    """ssh to one node as Ansible does (for commands a test streams or times)."""
    hv = hostvars(name)
    port = ["-p", str(hv["ansible_port"])] if hv.get("ansible_port") else []
    return ["ssh", "-i", str(Path(hv["ansible_ssh_private_key_file"]).resolve()), *port,
            *shlex.split(hv.get("ansible_ssh_common_args", "")), f"{hv.get('ansible_user', 'root')}@{hv['ansible_host']}"]


@functools.lru_cache(maxsize=None)
def _role_defaults(role: str) -> dict:
    import yaml

    return yaml.safe_load((PROJECT / "roles" / role / "defaults" / "main.yml").read_text()) or {}


def role_var(name: str, role: str, var: str):
    """A role variable as the role sees it on host `name`: inventory first, then the role default."""
    hv = hostvars(name)
    return hv[var] if var in hv else _role_defaults(role)[var]


def clean_env(**extra: str) -> dict:
    """The environment for running ansible-playbook as a user would:
    without the ANSIBLE_*/MOLECULE_* settings of the calling test runner."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_"))}
    env.update(extra)
    return env


def containers_conf() -> str:
    """The lab's own podman configuration (tools/lab/files/containers.conf)."""
    return str(PROJECT / "tools" / "lab" / "files" / "containers.conf")
