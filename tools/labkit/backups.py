"""What backup.yml left on the backup host, read by the backup tests of
the container lab (test_backup.py) and the VM lab (test_backup_vmlab.py).
Helpers of tests, not tests."""

from __future__ import annotations

import json


def backup_var(inv, name: str):
    """A backup role variable as the hypervisors see it."""
    return inv.role_var(inv.group("hypervisors")[0], "backup", name)


def backup_host(inv):
    return inv.node(backup_var(inv, "backup_host"))


def complete(inv, vm: str) -> list[str]:
    """The complete backups of a VM on the backup host (those with their
    manifest), oldest first; none before its first."""
    directory = f"{backup_var(inv, 'backup_dir')}/{vm}"
    out = backup_host(inv).check_output(
        f"if [ -d {directory} ]; then find {directory} -mindepth 2 -maxdepth 2 -name manifest.json; fi")
    return sorted(line.split("/")[-2] for line in out.split())


def manifest(inv, vm: str, backup_id: str) -> dict:
    """One backup's manifest.json."""
    return json.loads(backup_host(inv).check_output(f"cat {backup_var(inv, 'backup_dir')}/{vm}/{backup_id}/manifest.json"))
