"""A connection plugin that never connects, for the offline tests
(tests/repo/test_bad_input_offline.py sets it as every host's
ansible_connection and finds it through ANSIBLE_CONNECTION_PLUGINS).

Ansible creates a connection object for every task, even for assert,
debug or set_fact, which never use it: a connection name Ansible does not
know would fail those too. This one loads, and fails only when a task
uses it (runs a module, copies or fetches a file): the host is then
UNREACHABLE with a message naming this plugin, which no refusal of the
validation plays contains. Nothing is started and no packet is sent."""

from __future__ import annotations

DOCUMENTATION = """
name: havirt_offline_guard
short_description: Refuse every use of the connection (offline tests only)
description:
  - Loads like any connection, and fails as unreachable as soon as a task
    would run a command on the host, or copy a file to or from it.
author: havirt.cluster maintainers
options:
  host:
    description: The address a task would have reached (for the message only).
    default: inventory_hostname
    vars:
      - name: inventory_hostname
      - name: ansible_host
"""

from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.connection import ConnectionBase

MARKER = "havirt_offline_guard"


class Connection(ConnectionBase):
    """Every use raises AnsibleConnectionFailure."""

    transport = MARKER
    has_pipelining = False

    def _refuse(self, what: str):
        raise AnsibleConnectionFailure(
            f"{MARKER}: a task tried to {what} on {self.get_option('host')}; "
            "this offline run must not reach any node")

    def _connect(self):
        self._refuse("connect")

    def exec_command(self, cmd, in_data=None, sudoable=True):
        self._refuse("run a command")

    def put_file(self, in_path, out_path):
        self._refuse("copy a file")

    def fetch_file(self, in_path, out_path):
        self._refuse("fetch a file")

    def close(self):
        self._connected = False
