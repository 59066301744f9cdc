"""The forced command of the hypervisors' migration keys
(roles/xen_migration/files/havirt-migration-ssh), run by the local /bin/sh
as sshd runs it, with SSH_ORIGINAL_COMMAND set: the commands libvirt 9.0
really sends for qemu+ssh:// (captured, fixtures/libvirt-ssh/) start
libvirt's proxy for the local URI; anything else is refused with a message
and exit status 1, and runs nothing. A stand-in virt-ssh-helper on PATH
records what would have run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from offline_templating import render

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "roles" / "xen_migration" / "files" / "havirt-migration-ssh"
CAPTURED = Path(__file__).resolve().parent / "fixtures" / "libvirt-ssh"
QEMU = "qemu:///system"


def captured(name: str) -> str:
    return (CAPTURED / f"{name}.command").read_text().rstrip("\n")


def run(tmp_path, original, *args):
    """The script as sshd runs it; returns (exit status, stderr, the
    stand-in helper's arguments or None if it did not run)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "helper.log"
    helper = bin_dir / "virt-ssh-helper"
    helper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" > {log}\n')
    helper.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "SSH_CLIENT": "198.51.100.11 40000 22"}
    if original is not None:
        env["SSH_ORIGINAL_COMMAND"] = original
    done = subprocess.run(["/bin/sh", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=30)
    return done.returncode, done.stderr, log.read_text().strip() if log.exists() else None


@pytest.mark.parametrize("fixture,helper_args", [("qemu-system", QEMU), ("qemu-system-ro", f"-r {QEMU}")])
def test_libvirts_own_command_starts_its_proxy(tmp_path, fixture, helper_args):
    status, stderr, helper = run(tmp_path, captured(fixture), QEMU)
    assert (status, helper) == (0, helper_args), stderr


def test_a_xen_host_serves_xen_uris(tmp_path):
    status, stderr, helper = run(tmp_path, captured("xen-system"), "xen:///system")
    assert (status, helper) == (0, "xen:///system"), stderr


REFUSED = {
    "an arbitrary command": "id",
    "a shell": "/bin/bash -i",
    "libvirt's command for another driver": captured("xen-system"),
    "libvirt's command with more appended": captured("qemu-system") + "; id",
    "libvirt's command on another socket": captured("qemu-system").replace("libvirt-sock;", "virtqemud-sock;"),
    "the helper alone (proxy=native, which our URIs never ask for)": f"virt-ssh-helper '{QEMU}'",
    "an empty command": "",
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_anything_else_is_refused(tmp_path, case):
    status, stderr, helper = run(tmp_path, REFUSED[case], QEMU)
    assert status == 1
    assert helper is None
    assert stderr.startswith(f"havirt-migration-ssh: refused: this key opens libvirt ({QEMU})"), stderr
    assert stderr.rstrip("\n").endswith(f"asked: {REFUSED[case]}"), stderr


def test_a_login_without_a_command_is_refused(tmp_path):
    status, stderr, helper = run(tmp_path, None, QEMU)
    assert (status, helper) == (1, None)
    assert "asked: (no command)" in stderr


def test_without_its_uri_it_runs_nothing(tmp_path):
    status, stderr, helper = run(tmp_path, captured("qemu-system"))
    assert (status, helper) == (1, None)
    assert "usage:" in stderr


@pytest.mark.parametrize("hypervisor_type,uri", [("kvm", QEMU), ("xen", "xen:///system")])
def test_the_role_makes_it_the_keys_forced_command(hypervisor_type, uri):
    """authorized_keys.j2 rendered offline for servvirt2: servvirt1's key,
    from its cluster address only, restricted, and forced through the
    installed script with this host's own libvirt URI."""
    role = ROOT / "roles" / "xen_migration"
    variables = {}
    for part in ("defaults", "vars"):
        variables.update(yaml.safe_load((role / part / "main.yml").read_text()))
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHavirtTestKeyNotARealOneAtAllXXXXXXXXXXXXXX"
    variables.update(
        ansible_managed="Ansible managed", inventory_hostname="servvirt2", __xen_migration_type=hypervisor_type,
        groups={"hypervisors": ["servvirt1", "servvirt2"]},
        hostvars={"servvirt1": {"havirt_cluster_address": "198.51.100.11", "__xen_migration_ssh_keypair": {"public_key": key}},
                  "servvirt2": {"havirt_cluster_address": "198.51.100.12"}})
    text = render(role / "templates" / "authorized_keys.j2", variables)
    keys = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert keys == [f'from="198.51.100.11",restrict,command="/usr/local/sbin/{SCRIPT.name} {uri}" {key} '
                    "havirt-migration@servvirt1"]
