"""The backup role when backups are not configured (backup_host empty, the
default and the VM lab's case): site.yml's play must do nothing and fail
nothing. It once failed every node on 'Empty hostname produced from
delegate_to' (a skipped task's delegate_to is still templated). The role
runs on two local hosts, a hypervisor and a storage node."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path, hosts, play, args=()):
    collections = tmp_path / "collections"
    (collections / "ansible_collections" / "havirt").mkdir(parents=True)
    (collections / "ansible_collections" / "havirt" / "cluster").symlink_to(ROOT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_"))}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_STDOUT_CALLBACK="default")
    run = subprocess.run(["ansible-playbook", "-i", str(hosts), str(play), *args], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    return run.stdout + run.stderr, run.returncode


def test_unset_backup_host_changes_and_fails_nothing(tmp_path):
    hosts = tmp_path / "hosts.ini"
    hosts.write_text(f"[hypervisors]\nhv1 ansible_connection=local ansible_python_interpreter={sys.executable}\n"
                     f"[storage]\nst1 ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    play = tmp_path / "play.yml"
    play.write_text("- name: The backup role, backups not configured\n  hosts: all\n  gather_facts: false\n"
                    "  roles:\n    - role: havirt.cluster.backup\n")
    out, code = _run(tmp_path, hosts, play)
    assert code == 0, out[-3000:]
    assert "changed=0" in out and "failed=0" in out, out[-3000:]
    assert "Set up the backup host" in out and "skipping: [hv1]" in out, out[-3000:]


@pytest.mark.parametrize("tasks, extra, said", [
    ("take", {"backup_host": ""}, "Cannot back up: backups are not configured: set backup_host"),
    ("take", {"backup_host": "st1", "havirt_hypervisor_type": "xen"},
     "Cannot back up: backups are libvirt's backup job (virDomainBackupBegin)"),
    ("restore", {"backup_host": "st1", "havirt_hypervisor_type": "xen", "vm": "passata"},
     "Cannot restore: backups are libvirt's backup job (virDomainBackupBegin)"),
])
def test_backup_and_restore_refuse_before_touching_a_host(tmp_path, tasks, extra, said):
    """backup.yml's and restore.yml's first step refuses a run that cannot
    work (no backup host; Xen, whose libxl has no backup job) with the
    reason and changes nothing."""
    hosts = tmp_path / "hosts.ini"
    hosts.write_text(f"[hypervisors]\nhv1 ansible_connection=local ansible_python_interpreter={sys.executable}\n"
                     f"[storage]\nst1 ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    play = tmp_path / "play.yml"
    play.write_text("- name: A backup run\n  hosts: hypervisors\n  gather_facts: false\n  tasks:\n"
                    "    - name: Take or restore\n      ansible.builtin.include_role:\n"
                    f"        name: havirt.cluster.backup\n        tasks_from: {tasks}\n")
    out, code = _run(tmp_path, hosts, play, ["-e", json.dumps({"havirt_vms": [{"name": "passata"}], **extra})])
    assert code != 0, out[-3000:]
    assert said in out and "Nothing was changed." in out and "changed=0" in out, out[-3000:]
