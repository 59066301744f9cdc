"""The lab inventory as the playbooks see it, for the verify tests.

Ansible's own API loads and templates the inventory (group_vars included),
so the tests read every address and setting from the same place as the
roles do: nothing is repeated here.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import tempfile
import time
from pathlib import Path

import testinfra

PROJECT = Path(__file__).resolve().parents[2]


def inventory_paths() -> list[Path]:
    """The inventory sources under test, in order: HAVIRT_TEST_INVENTORY,
    one path or several joined by ':' (the Xen lab is the VM lab's
    inventory with inventories/xenlab over it)."""
    # Empty counts as unset: Path("") is the checkout itself, which Ansible
    # would walk as an inventory directory, running every executable in it
    # with --list (it did once: tools/controller-check).
    paths = [p for p in os.environ.get("HAVIRT_TEST_INVENTORY", "").split(os.pathsep) if p]
    return [Path(p) for p in paths] or [PROJECT / "inventories" / "lab"]


def inventory_path() -> Path:
    """The first inventory source (where the lab's own files are)."""
    return inventory_paths()[0]


def inventory_args() -> list[str]:
    """-i for each inventory source, for ansible and ansible-playbook."""
    return [arg for path in inventory_paths() for arg in ("-i", str(path))]


@functools.lru_cache(maxsize=None)
def _manager():
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    # Collections' filters (ansible.utils...) are found through the loader
    # that importing labkit installed, as ansible-playbook finds them.
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(path) for path in inventory_paths()])
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
    # Each variable on its own: ansible-core 2.19 leaves a whole value that
    # has an undefined part untemplated, and a value naming hostvars (which
    # this offline view has not) would leave every variable raw.
    return {name: templar.template(value, fail_on_undefined=False) for name, value in raw.items()}


# What ssh says when the shared connection went away between two commands
# (the master gave up on a node that stalled, or its ControlPersist ended
# as a client came): the session was never opened, the command never ran.
_MUX_LOST = re.compile(r"mux_client_request_session|Failed to connect to new control master")


def retry_lost_mux(run_ssh, attempts: int = 3, pause: float = 2):
    """testinfra's run_ssh, run again when ssh lost its shared connection
    before the command started (exit 255 with one of _MUX_LOST's
    messages); any other failure is raised at once. In the Xen lab a
    hypervisor's sshd stalls for seconds under load: both crash tests of
    2026-12-06 failed on it after the VMs had come back."""
    def run(command):
        for _ in range(attempts - 1):
            try:
                return run_ssh(command)
            except RuntimeError as exc:
                if not _MUX_LOST.search(str(exc)):
                    raise
                time.sleep(pause)
        return run_ssh(command)
    return run


@functools.lru_cache(maxsize=None)
def node(name: str):
    """A testinfra host reaching the node over SSH as Ansible does.

    Where the inventory sets havirt_lab_ssh_control_persist (the VM lab:
    under TCG an SSH handshake costs about 4 s), the node's commands share
    one connection, as Ansible's do; a master whose node froze or was reset
    gives up after 15 s without an answer, and the next command connects
    anew."""
    hv = hostvars(name)
    key = Path(hv["ansible_ssh_private_key_file"]).resolve()
    port = f":{hv['ansible_port']}" if hv.get("ansible_port") else ""
    extra = hv.get("ansible_ssh_common_args", "")
    persist = int(hv.get("havirt_lab_ssh_control_persist", 0))
    options = {}
    if persist:
        socket = Path(tempfile.gettempdir()) / f"havirt-ssh-{os.getuid()}-{hv['ansible_host']}-{hv.get('ansible_port', 22)}"
        options = {"controlpersist": persist, "controlpath": str(socket)}
        extra += " -o ServerAliveInterval=5 -o ServerAliveCountMax=3"
    host = testinfra.get_host(
        f"ssh://{hv.get('ansible_user', 'root')}@{hv['ansible_host']}{port}",
        ssh_identity_file=str(key),
        ssh_extra_args=extra,
        **options,
    )
    if persist and not getattr(host.backend, "havirt_retries", False):
        host.backend.run_ssh = retry_lost_mux(host.backend.run_ssh)
        host.backend.havirt_retries = True
    return host


def ssh_argv(name: str) -> list[str]:
    """ssh to one node as Ansible does (for commands a test streams or times)."""
    hv = hostvars(name)
    port = ["-p", str(hv["ansible_port"])] if hv.get("ansible_port") else []
    return ["ssh", "-i", str(Path(hv["ansible_ssh_private_key_file"]).resolve()), *port,
            *shlex.split(hv.get("ansible_ssh_common_args", "")), f"{hv.get('ansible_user', 'root')}@{hv['ansible_host']}"]


@functools.lru_cache(maxsize=None)
def _role_defaults(role: str) -> dict:
    from ansible.parsing.dataloader import DataLoader

    path = str(PROJECT / "roles" / role / "defaults" / "main.yml")
    try:
        from ansible.template import trust_as_template  # noqa: F401  (ansible-core 2.19+)
    except ImportError:  # ansible-core 2.18 templates every string
        return DataLoader().load_from_file(path) or {}
    # ansible-core 2.19+ templates only what it trusts: a role's files, as loaded here.
    return DataLoader().load_from_file(path, trusted_as_template=True) or {}


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
