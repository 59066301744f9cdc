"""xen_migration with the ssh transport, in the container lab (which
converges with tls): the role's ssh tasks run on the live lab, then each
hypervisor reaches the other over qemu+ssh with its own key and the
other's host key already known, a copy of that key is refused from
anywhere but the hypervisor's own cluster address, and migrate.yml moves a
running guest with its stream tunnelled through SSH; with the right key
from the right address, anything but libvirt is refused."""

from __future__ import annotations

import re
import subprocess

import pytest

from labkit.vms import http_get, playbook, running_on, wait_for_http

pytestmark = pytest.mark.usefixtures("probe_tools")
VM = "speedauth"
KEY = "/root/.ssh/havirt_migration"


@pytest.fixture(scope="module")
def ssh_transport(inv, tmp_path_factory):
    """The xen_migration role's ssh tasks, as site.yml runs them with
    havirt_migration_transport: ssh."""
    play = tmp_path_factory.mktemp("ssh") / "ssh.yml"
    play.write_text("- name: Migration over SSH\n  hosts: hypervisors\n  tasks:\n"
                    "    - name: The role's SSH keys\n      ansible.builtin.include_role:\n"
                    "        name: havirt.cluster.xen_migration\n        tasks_from: ssh.yml\n")
    run = subprocess.run(["ansible-playbook", *inv.inventory_args(), str(play),
                          "-e", "havirt_migration_transport=ssh"],
                         cwd=inv.PROJECT, env=inv.clean_env(), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    return run


def test_each_hypervisor_reaches_the_other_over_ssh(inv, hypervisor, ssh_transport):
    host = inv.node(hypervisor)
    assert host.file(KEY).mode == 0o600
    for other in inv.group("hypervisors"):
        if other != hypervisor:
            # No StrictHostKeyChecking trick: the other's host key is known.
            out = host.run("virsh -c 'qemu+ssh://root@%s/system?keyfile=%s' hostname", other, KEY)
            assert out.rc == 0, out.stderr
            assert out.stdout.strip() == other


def test_a_copy_of_the_key_is_refused_from_elsewhere(inv, storage_node, ssh_transport):
    """The key of servvirt1, copied to servdb, does not open servvirt2:
    it is accepted only from servvirt1's cluster address."""
    first, second = inv.group("hypervisors")
    private = inv.node(first).check_output("base64 -w0 %s", KEY)
    host = inv.node(storage_node)
    host.check_output("install -m 0600 /dev/null /root/stolen && echo %s | base64 -d > /root/stolen", private)
    try:
        # (ssh's own 255 would read as a lost connection to the test runner.)
        out = host.run("ssh -i /root/stolen -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
                       " root@%s true; echo rc=$?", inv.hostvars(second)["havirt_cluster_address"])
        assert "rc=255" in out.stdout and "Permission denied" in out.stderr, out.stdout + out.stderr
        assert "error in libcrypto" not in out.stderr, out.stderr
    finally:
        host.run("rm -f /root/stolen")


def test_the_key_opens_nothing_but_libvirt(inv, ssh_transport):
    """servvirt1's own key, from servvirt1's own address: virsh works (above),
    but any other command, or a login without one, is refused by the key's
    forced command (roles/xen_migration/files/havirt-migration-ssh)."""
    first, second = inv.group("hypervisors")
    host = inv.node(first)
    for command in ("id", ""):
        # (ssh's own 255 would read as a lost connection to the test runner.)
        out = host.run("ssh -i %s -o BatchMode=yes -T root@%s %s </dev/null; echo rc=$?", KEY, second, command)
        assert "rc=1" in out.stdout, out.stdout + out.stderr
        assert "uid=" not in out.stdout, out.stdout
        assert "havirt-migration-ssh: refused: this key opens libvirt (qemu:///system)" in out.stderr, out.stderr
        assert f"asked: {command or '(no command)'}" in out.stderr, out.stderr


def test_migrate_over_ssh_tunnels_the_stream(inv, ssh_transport):
    wait_for_http(VM, timeout=120)
    source = running_on(VM)[0]
    target = next(h for h in inv.group("hypervisors") if h != source)
    # -v: the module's plan (its libvirt flags) shows in the output.
    run = playbook("migrate.yml", "-v", "-e", f"vm={VM}", "-e", f"to={target}", "-e", "havirt_migration_transport=ssh")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    summary = re.findall(r'"msg": "([^"]*)"', run.stdout)[-1]
    print(summary)
    assert re.search(rf"{VM}: {source} -> {target}, total \d+ ms", summary), summary
    assert re.search(r'"flags": \[[^\]]*"TUNNELLED"', run.stdout), run.stdout[-3000:]
    assert not re.search(r'"flags": \[[^\]]*"TLS"', run.stdout)
    assert running_on(VM) == [target]
    assert http_get(VM).strip() == f"<h1>{VM}</h1>"
    # And back, over TLS as the lab is configured.
    back = playbook("migrate.yml", "-e", f"vm={VM}", "-e", f"to={source}")
    assert back.returncode == 0, back.stdout[-3000:]
