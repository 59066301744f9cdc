"""The pacemaker role's checks (plugins/filter/pacemaker_problems.py): one
sentence per problem; the key and the devices' secrets never in a message."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter.pacemaker_problems import pacemaker_problems

NODES = ["servdb", "servvirt1", "servvirt2"]
HOSTVARS = {"servdb": {"havirt_cluster_address": "10.210.1.10"},
            "servvirt1": {"havirt_cluster_address": "10.210.1.11"},
            "servvirt2": {"havirt_cluster_address": "fd00::12"}}
KEY = "k" * 128
SECRET = "fence-password-never-shown"


def _device(**changes):
    device = {"name": "fence-lab", "agent": "fence_podman", "targets": list(NODES),
              "options": {"unix_socket": "/run/x.sock"}, "secret_options": {"password": SECRET}}
    device.update(changes)
    return device


def _problems(nodes=None, hostvars=None, **kwargs):
    kwargs.setdefault("authkey", KEY)
    kwargs.setdefault("fence_devices", [_device()])
    return pacemaker_problems(nodes or NODES, hostvars or HOSTVARS, group="cluster", **kwargs)


def test_the_lab_passes():
    assert _problems() == []


def test_two_nodes_are_refused_with_the_reason():
    problems = _problems(nodes=NODES[1:], fence_devices=[_device(targets=NODES[1:])])
    assert problems == ["pacemaker needs three or more nodes in group 'cluster'; it has 2 (servvirt1, servvirt2). "
                        "With two nodes and no quorum device, the survivor of a failure cannot tell a dead peer from "
                        "a cut link, and both may run the same VMs. Add a third node (the storage node votes without "
                        "running VMs); this role does not set up a quorum device (corosync-qdevice)."]


@pytest.mark.parametrize("address,expected", [
    (None, "servvirt1 has no havirt_cluster_address in the inventory (corosync's ring address)."),
    ("999.1.1.1", "servvirt1: havirt_cluster_address '999.1.1.1' is not an IP address (corosync's ring address)."),
    ("10.0.0.0/24", "servvirt1: havirt_cluster_address '10.0.0.0/24' is not an IP address"),
])
def test_a_node_without_a_valid_address_is_named(address, expected):
    hostvars = dict(HOSTVARS, servvirt1={"havirt_cluster_address": address})
    assert any(problem.startswith(expected) for problem in _problems(hostvars=hostvars))


@pytest.mark.parametrize("authkey", [None, "short", 42, "k" * 127])
def test_a_missing_or_short_key_is_refused_without_showing_it(authkey):
    problems = _problems(authkey=authkey)
    assert len(problems) == 1 and problems[0].startswith("pacemaker_corosync_authkey must be set to a string of at "
                                                         "least 128 characters")
    assert "short" not in problems[0] and "k" * 20 not in problems[0]


@pytest.mark.parametrize("change,expected", [
    ({"name": "1bad"}, "Fence device 1bad: the name must start with a letter or '_'"),
    ({"name": None}, "Fence device pacemaker_fence_devices[0]: the name must start"),
    ({"agent": "ipmilan"}, "Fence device fence-lab: the agent must be a fence agent's name, fence_* (got 'ipmilan')."),
    ({"targets": []}, "Fence device fence-lab: targets must list the nodes it can fence (got [])."),
    ({"targets": "servdb"}, "Fence device fence-lab: targets must list the nodes it can fence (got 'servdb')."),
    ({"targets": NODES + ["servweb"]},
     "Fence device fence-lab: targets servweb are not nodes of group 'cluster' (servdb, servvirt1, servvirt2)."),
])
def test_a_device_problem_names_the_device(change, expected):
    problems = _problems(fence_devices=[_device(**change)])
    assert any(problem.startswith(expected) for problem in problems), problems
    assert not any(SECRET in problem for problem in problems)


def test_two_devices_of_one_name_are_refused():
    problems = _problems(fence_devices=[_device(), _device(targets=["servdb"])])
    assert problems == ["Fence device fence-lab: the name is already pacemaker_fence_devices[0]'s: each device needs "
                        "its own."]


def test_no_fencing_is_refused_unless_accepted():
    assert _problems(fence_devices=[])[0].startswith("No fence device (pacemaker_fence_devices is empty). Without "
                                                     "fencing")
    assert _problems(fence_devices=[], allow_no_fencing=True) == []
    assert _problems(fence_devices=None, allow_no_fencing=True) == []


def test_a_node_no_device_targets_is_named():
    problems = _problems(fence_devices=[_device(targets=["servvirt1", "servvirt2"])])
    assert problems == ["No fence device targets servdb: the cluster could never recover the VMs of such a node when "
                        "it fails (its resources would stay blocked until someone confirms it is off). Add it to a "
                        "device's targets."]


def test_a_device_that_is_not_a_dict_is_named_and_the_rest_still_checked():
    problems = _problems(fence_devices=["fence_ipmilan", _device(targets=["servvirt1"])])
    assert problems[0] == "pacemaker_fence_devices[0] must be a dict (name, agent, targets, options), got a str."
    assert problems[1].startswith("No fence device targets servdb, servvirt2:")


def test_not_a_list_is_an_error():
    with pytest.raises(AnsibleFilterError, match="must be a list"):
        pacemaker_problems("servdb", HOSTVARS)
    with pytest.raises(AnsibleFilterError, match="pacemaker_fence_devices must be a list of dicts, got a dict"):
        _problems(fence_devices={"name": "x"})


def test_an_address_with_blanks_around_it_is_not_one():
    hostvars = dict(HOSTVARS, servvirt1={"havirt_cluster_address": " 10.210.1.11"})
    assert _problems(hostvars=hostvars) == ["servvirt1: havirt_cluster_address ' 10.210.1.11' is not an IP address "
                                            "(corosync's ring address)."]


def test_alert_recipients_are_mail_addresses_and_http_urls():
    good = _problems(alert_mail_to=["ops@example.org", "root@localhost"],
                     alert_webhooks=["https://hooks.example.org/T0/secret-token", "http://10.0.0.5:8080/alert"])
    assert good == []
    bad = _problems(alert_mail_to=["ops@example.org", "ops", "Ops <ops@example.org>"],
                    alert_webhooks=["ftp://example.org/secret-token", "https://hooks.example.org/a b"])
    assert bad == [
        "pacemaker_alert_mail_to: 'ops', 'Ops <ops@example.org>' are not a mail address (user@domain, nothing else).",
        "pacemaker_alert_webhooks[0] is not an http:// or https:// URL (not quoted here: it may hold a token).",
        "pacemaker_alert_webhooks[1] is not an http:// or https:// URL (not quoted here: it may hold a token)."]
    assert not any("secret-token" in problem for problem in bad)
    assert _problems(alert_mail_to="ops@example.org") == [
        "pacemaker_alert_mail_to must be a list, got a str."]


def test_a_relay_login_goes_with_starttls_and_is_never_quoted(tmp_path):
    relay = {"relay": "smtp.example.org", "starttls": True, "user": "cluster@example.org", "password": "s3cret-pw"}
    assert _problems(alert_relay=relay) == []
    assert _problems(alert_relay=dict(relay, password="")) == [
        "pacemaker_alert_mail_user and pacemaker_alert_mail_password go together: set both (the password in "
        "ansible-vault) or neither."]
    clear = _problems(alert_relay=dict(relay, starttls=False))
    assert clear == [
        "pacemaker_alert_mail_password would cross the network in clear to smtp.example.org: set "
        "pacemaker_alert_mail_starttls: true (the relay's certificate is then checked against the nodes' CAs or "
        "pacemaker_alert_mail_ca_file)."]
    assert not any("s3cret-pw" in problem for problem in clear)
    # The node's own MTA: nothing crosses the network.
    assert _problems(alert_relay=dict(relay, relay="localhost", starttls=False)) == []
    assert _problems(alert_relay=dict(relay, relay="127.0.0.1", starttls=False)) == []
    assert _problems(alert_relay=dict(relay, relay="::1", starttls=False)) == []
    # A name that only looks like a loopback address is another host.
    assert len(_problems(alert_relay=dict(relay, relay="127.mail.example.org", starttls=False))) == 1
    assert _problems(alert_relay=None) == []


def test_a_relay_ca_file_must_be_pem_certificates_read_with_starttls(tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    relay = {"relay": "10.0.0.9", "starttls": True, "ca_file": str(ca)}
    assert _problems(alert_relay=relay) == []
    assert _problems(alert_relay=dict(relay, ca_file=str(tmp_path / "none.crt"))) == [
        f"pacemaker_alert_mail_ca_file {tmp_path / 'none.crt'} cannot be read on the controller: No such file or "
        "directory."]
    key = tmp_path / "ca.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    assert _problems(alert_relay=dict(relay, ca_file=str(key))) == [
        f"pacemaker_alert_mail_ca_file {key} holds no PEM certificate (-----BEGIN CERTIFICATE-----)."]
    assert _problems(alert_relay=dict(relay, starttls=False)) == [
        "pacemaker_alert_mail_ca_file is used only with pacemaker_alert_mail_starttls: true."]
