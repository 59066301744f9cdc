"""/etc/default/o2cb as the ocfs2 role writes it is byte for byte what
ocfs2-tools' own init script writes (fixture captured from the packages:
tests/unit/roles/fixtures/o2cb_default/README.md).

On Debian 13, o2cb.service starts with `o2cb.init enable` and stops with
`o2cb.init disable`, which rewrite the file in their own form whenever
O2CB_ENABLED changes; a file in any other form is replaced at the first
restart, and the role then saw a change (and restarted o2cb) on every
run. Rendered here by Ansible's own template module, as the role does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "unit" / "roles" / "fixtures" / "o2cb_default" / "write_sysconfig-1.8.8-3.txt"


def test_the_role_writes_what_o2cb_init_writes(tmp_path):
    dest = tmp_path / "o2cb"
    play = tmp_path / "render.yml"
    play.write_text(
        "- name: Render the ocfs2 role's /etc/default/o2cb\n  hosts: localhost\n  gather_facts: false\n"
        f"  vars_files: [{ROOT / 'roles' / 'ocfs2' / 'defaults' / 'main.yml'}]\n"
        "  tasks:\n    - name: Render\n      ansible.builtin.template:\n"
        f"        src: {ROOT / 'roles' / 'ocfs2' / 'templates' / 'o2cb.default.j2'}\n        dest: {dest}\n"
        "        mode: '0644'\n")
    # The capture was made with ocfs2-tools' default threshold (31); the
    # role's default is 11: rendered with the capture's value, the form is
    # what is compared.
    run = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e",
                          f"ansible_python_interpreter={sys.executable}", "-e", "ocfs2_heartbeat_threshold=31",
                          str(play)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert dest.read_bytes() == FIXTURE.read_bytes()
