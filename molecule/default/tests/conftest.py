"""Fixtures for the container lab's verify step (inventories/lab), and the
order its test files run in (tools/labkit/order.py: read-only files first,
then those that change the cluster in a set order, the storage node's
restart last; a file in no list stops the run at collection)."""

from __future__ import annotations

import email
import email.policy
import json
import os
import shlex
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "tools"))  # labkit

from labkit import failover as fo  # noqa: E402
from labkit import order, probes  # noqa: E402

pytest_plugins = ["labkit.fixtures"]


def _file_name(item):
    return item.path.name


def pytest_collection_modifyitems(config, items):
    order.reorder_directory(items, HERE, order.CONTAINER_LAB, "CONTAINER_LAB in tools/labkit/order.py")
    # Which files run (the others reported as deselected): molecule/default
    # runs this directory with HAVIRT_LAB_VERIFY=ci (all but
    # order.CONTAINER_LAB_EXTENDED), molecule/extended with extended (those
    # only), molecule/bookworm with core (order.CONTAINER_LAB_CORE); by
    # hand, all of them.
    verify = os.environ.get("HAVIRT_LAB_VERIFY", "all")
    if verify not in ("all", "ci", "extended", "core"):
        raise pytest.UsageError(f"HAVIRT_LAB_VERIFY must be all, ci, extended or core, not {verify!r}")
    if verify == "all":
        return
    if verify == "ci":
        dropped, kept = order.subset(items, _file_name, order.CONTAINER_LAB_EXTENDED)
    else:
        files = {"extended": order.CONTAINER_LAB_EXTENDED, "core": order.CONTAINER_LAB_CORE}[verify]
        kept, dropped = order.subset(items, _file_name, files)
    config.hook.pytest_deselected(items=dropped)
    items[:] = kept


@pytest.fixture(scope="session")
def libiscsi_tools(inv):
    """libiscsi's tools are the lab's probe, not part of the cluster: the
    test installs them on the nodes itself."""
    probes.ensure(inv.group("cluster"), probes.ISCSI)


MAIL_DIR = "/var/tmp/havirt-mail"
END = "==havirt-mail-end=="


@pytest.fixture()
def mail_sink(inv):
    """The lab's mail relay on the storage node (tools/lab/files/mail_sink.py,
    put there by tools/lab/up.yml), where the lab's inventory sends the
    cluster's alerts (pacemaker_alert_mail_relay, _port): it wants STARTTLS
    with its certificate (the lab mail CA's, which the nodes trust) and the
    login the inventory gives the nodes (pacemaker_alert_mail_user,
    _password), its mailbox emptied; the messages it received, parsed,
    from the callable."""
    node = inv.node(fo.witness())
    hv = inv.hostvars(fo.witness())
    probes.ensure([fo.witness()], probes.MAIL)
    node.run("systemctl stop havirt-mail-sink; systemctl reset-failed havirt-mail-sink")
    node.check_output(f"rm -rf {MAIL_DIR} && mkdir -p {MAIL_DIR}/tmp {MAIL_DIR}/new {MAIL_DIR}/cur")  # a Maildir
    login = json.dumps({"user": hv["pacemaker_alert_mail_user"], "password": hv["pacemaker_alert_mail_password"]})
    node.check_output(f"umask 077 && printf '%s' {shlex.quote(login)} > {MAIL_DIR}.login")
    # On every address: the relay the inventory names is this node's cluster address.
    relay, port = "/usr/local/lib/havirt-lab", hv["pacemaker_alert_mail_port"]
    node.check_output(f"systemd-run --unit havirt-mail-sink {relay}/mail_sink.py --listen 0.0.0.0:{port} "
                      f"--cert {relay}/relay.crt --key {relay}/relay.key --login {MAIL_DIR}.login {MAIL_DIR}")
    node.check_output(f"timeout 20 bash -c 'until (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null; do sleep 0.2; done'")

    def received() -> list:
        out = node.run(f"cd {MAIL_DIR} && for f in new/* cur/*; do [ -f \"$f\" ] && cat \"$f\" && echo {END}; done").stdout
        return [email.message_from_string(raw.strip() + "\n", policy=email.policy.default)
                for raw in out.split(END) if raw.strip()]

    yield received
    node.run("systemctl stop havirt-mail-sink")
