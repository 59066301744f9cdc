#!/usr/bin/python3
"""Watch a guest from outside while it migrates (runs on the storage node).

ICMP echo every INTERVAL seconds (raw socket: run as root) and HTTP GETs of
the guest's 1 MiB /blob one after another, until a line arrives on stdin.
Prints JSON: the send time of every echo, the receive time of every reply
(by sequence number) and the start, end and size of every HTTP transfer.
Times are time.time(): the lab's nodes share the host's clock.

Usage: probe.py ADDRESS [INTERVAL_S]
"""

import json
import os
import socket
import struct
import sys
import threading
import time
import urllib.request


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_packet(ident, seq):
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    payload = b"havirt-probe"
    return struct.pack("!BBHHH", 8, 0, checksum(header + payload), ident, seq) + payload


def main():
    address = sys.argv[1]
    interval = float(sys.argv[2]) if len(sys.argv) > 2 else 0.005
    ident = os.getpid() & 0xFFFF
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.settimeout(0.2)
    stop = threading.Event()
    sent, replies, transfers = {}, {}, []

    def receive():
        while not stop.is_set():
            try:
                data = sock.recv(2048)
            except socket.timeout:
                continue
            now = time.time()
            icmp = data[(data[0] & 0x0F) * 4:]
            kind, _code, _sum, rid, seq = struct.unpack("!BBHHH", icmp[:8])
            if kind == 0 and rid == ident and seq not in replies:
                replies[seq] = now

    def send():
        seq = 0
        next_at = time.time()
        while not stop.is_set():
            seq = (seq + 1) & 0xFFFF
            sent[seq] = time.time()
            try:
                sock.sendto(echo_packet(ident, seq), (address, 0))
            except OSError:
                pass
            next_at += interval
            time.sleep(max(0.0, next_at - time.time()))

    def pull():
        while not stop.is_set():
            start = time.time()
            try:
                with urllib.request.urlopen("http://%s/blob" % address, timeout=2) as answer:
                    size = len(answer.read())
                transfers.append([start, time.time(), size])
            except OSError:
                time.sleep(0.01)

    threads = [threading.Thread(target=f, daemon=True) for f in (receive, send, pull)]
    for t in threads:
        t.start()
    sys.stdin.readline()
    stop.set()
    time.sleep(0.3)
    json.dump({"interval_s": interval, "sent": sorted(sent.items()), "replies": sorted(replies.items()),
               "http": transfers}, sys.stdout)


if __name__ == "__main__":
    main()
