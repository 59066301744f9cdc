"""xen_migration role (kvm, tls) in the container lab: libvirtd's TLS
socket on the cluster address only, a hypervisor reaches the other with its
certificate from the cluster CA, servdb (no certificate of the CA) cannot."""

from __future__ import annotations


def test_tls_socket_on_the_cluster_address_only(inv, hypervisor):
    address = inv.hostvars(hypervisor)["havirt_cluster_address"]
    listening = inv.node(hypervisor).check_output("ss -Hltn sport = :16514")
    assert [line.split()[3] for line in listening.splitlines()] == [f"{address}:16514"]


def test_each_hypervisor_reaches_the_other_over_tls(inv, hypervisor):
    for other in inv.group("hypervisors"):
        if other != hypervisor:
            out = inv.node(hypervisor).run("virsh -c qemu+tls://%s/system hostname", other)
            assert out.rc == 0, out.stderr
            assert out.stdout.strip() == other


def test_a_host_without_a_cluster_certificate_is_refused(inv, storage_node):
    """servdb trusts the cluster CA (its certificate is public) but holds a
    client certificate from a CA of its own: it verifies the hypervisors,
    and they refuse it."""
    host = inv.node(storage_node)
    ca_cert = inv.node(inv.group("hypervisors")[0]).file("/etc/pki/CA/cacert.pem").content_string
    host.check_output("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libvirt-clients gnutls-bin >/dev/null")
    host.check_output(
        "set -e; d=$(mktemp -d); cd $d; certtool --generate-privkey --outfile ca.key 2>/dev/null;"
        " printf 'cn=intruder CA\\nca\\ncert_signing_key\\n' > ca.info;"
        " certtool --generate-self-signed --load-privkey ca.key --template ca.info --outfile ca.pem 2>/dev/null;"
        " certtool --generate-privkey --outfile key.pem 2>/dev/null;"
        " printf 'cn=servvirt1\\ntls_www_client\\n' > c.info;"
        " certtool --generate-certificate --load-privkey key.pem --load-ca-certificate ca.pem --load-ca-privkey ca.key"
        " --template c.info --outfile cert.pem 2>/dev/null;"
        " mkdir -p /root/intruder-pki; cp cert.pem /root/intruder-pki/clientcert.pem; cp key.pem /root/intruder-pki/clientkey.pem")
    host.check_output("cat > /root/intruder-pki/cacert.pem <<'EOF'\n%sEOF" % ca_cert)
    try:
        for hypervisor in inv.group("hypervisors"):
            out = host.run("virsh -c 'qemu+tls://%s/system?pkipath=/root/intruder-pki' hostname", hypervisor)
            assert out.rc != 0, out.stdout
            # servdb verified the hypervisor (no certificate warning of its own); the hypervisor closed the session.
            assert "failed to connect to the hypervisor" in out.stderr, out.stderr
            assert "Certificate check failed" not in out.stderr, out.stderr
    finally:
        host.run("rm -rf /root/intruder-pki")
