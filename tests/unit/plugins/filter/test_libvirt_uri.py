# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter.libvirt_uri import libvirt_uri


@pytest.mark.parametrize("kind,expected", [("kvm", "qemu:///system"), ("qemu", "qemu:///system"),
                                           ("xen", "xen:///system"), ("Xen", "xen:///system")])
def test_the_local_connection(kind, expected):
    assert libvirt_uri(kind) == expected


def test_another_host_over_tls():
    assert libvirt_uri("kvm", host="servvirt2") == "qemu+tls://servvirt2/system"
    assert libvirt_uri("xen", host="%n", transport="tls") == "xen+tls://%n/system"


def test_another_host_over_ssh_with_its_key():
    assert (libvirt_uri("xen", host="DESTINATION", transport="ssh", ssh_key="/root/.ssh/havirt_migration")
            == "xen+ssh://root@DESTINATION/system?keyfile=/root/.ssh/havirt_migration")
    assert libvirt_uri("kvm", host="10.0.0.2", transport="ssh") == "qemu+ssh://root@10.0.0.2/system"


@pytest.mark.parametrize("kind,kwargs,word", [
    ("lxc", {}, "hypervisor type 'lxc'"),
    ("kvm", {"host": "servvirt2", "transport": "tcp"}, "transport 'tcp'"),
])
def test_unknown_values_are_named(kind, kwargs, word):
    with pytest.raises(AnsibleFilterError, match=word):
        libvirt_uri(kind, **kwargs)
