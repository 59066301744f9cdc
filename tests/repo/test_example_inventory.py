"""inventories/example as a user copies it: with its vault variables given
(stand-ins here), playbooks/validate.yml passes it, its VMs included (the
sources' five, on image files of the OCFS2 store, made from Debian's cloud
image and configured by cloud-init). Offline: the storage
node is left out (--limit), and SSH goes through ProxyCommand=false, so
nothing leaves this machine; the only task that reads a node is the
storage node's own."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
VAULT = {
    "vault_havirt_iscsi_chap_password": "example-chap-secret-1234",
    "vault_havirt_pki_ca_passphrase": "example-ca-passphrase-1234",
    "vault_pacemaker_corosync_authkey": "0123456789abcdef" * 8,
    "vault_ipmi_password_servdb": "ipmi-stand-in",
    "vault_ipmi_password_servvirt1": "ipmi-stand-in",
    "vault_ipmi_password_servvirt2": "ipmi-stand-in",
    "vault_alert_mail_password": "relay-stand-in",
}


def _validate(tmp_path, *extra):
    vault = tmp_path / "vault.yml"
    vault.write_text(yaml.safe_dump(VAULT))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_"))}
    env.update(ANSIBLE_TIMEOUT="5")
    return subprocess.run(["ansible-playbook", "-i", str(ROOT / "inventories" / "example"), "playbooks/validate.yml",
                           "--limit", "!storage", "-e", f"@{vault}",
                           "-e", "ansible_ssh_common_args='-o ProxyCommand=false'", *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_the_example_inventory_passes_with_its_vms(tmp_path):
    shipped = yaml.safe_load((ROOT / "inventories" / "example" / "group_vars" / "cluster" / "vms.yml").read_text())
    assert sorted(vm["name"] for vm in shipped["havirt_vms"]) == ["masterauth", "passata", "simplesip", "soldi",
                                                                  "speedauth"]
    # Each made from the image and configured by cloud-init at its first boot.
    assert all(vm["image"] == "{{ havirt_vm_image }}" and vm["cloud_init"] is True for vm in shipped["havirt_vms"])
    assert set(shipped["havirt_vm_image"]) == {"url", "checksum"}
    run = _validate(tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-1000:]


def test_its_image_without_a_checksum_is_refused(tmp_path):
    broken = tmp_path / "image.yml"
    broken.write_text(yaml.safe_dump({"havirt_vm_image": {"url": "https://cloud.debian.org/images/cloud/trixie/"
                                                                  "latest/debian-13-genericcloud-amd64.qcow2"}}))
    run = _validate(tmp_path, "-e", f"@{broken}")
    assert run.returncode != 0
    # The vms role's argument spec says it first (vms_problems would too).
    assert "missing parameter(s) required by 'url': checksum found in vms_list -> image" in run.stdout, \
        run.stdout[-3000:]


def test_a_broken_vm_in_it_is_refused(tmp_path):
    # The same run sees the VMs: one of them given a tag nobody has is refused.
    shipped = yaml.safe_load((ROOT / "inventories" / "example" / "group_vars" / "cluster" / "vms.yml").read_text())
    vms = shipped["havirt_vms"]
    vms[0]["avoid"] = ["nosuch"]
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump({"havirt_vms": vms}))
    run = _validate(tmp_path, "-e", f"@{broken}")
    assert run.returncode != 0
    assert "passata: avoid names nosuch, neither a VM of havirt_vms nor a tag of one" in run.stdout, run.stdout[-3000:]
