#!/usr/bin/env python3
"""RSS cost of open HTTP connections on a running server, below any handler.

    bench/conn_rss.py PID PORT MODE N

MODE `bare` opens N connections that send nothing; `partial` opens N connections that
each send an unfinished request head (so the server's HTTP layer holds a pending request
but no handler runs). Prints the server's RSS (from /proc/PID/status) before and with
them, and the difference per connection. Loopback only.
"""
import socket
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    raise SystemExit("no VmRSS for that PID")


def main():
    pid, port, mode, count = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    time.sleep(1)
    before = rss_kib(pid)
    connections = []
    for _ in range(count):
        connection = socket.create_connection(("127.0.0.1", port))
        if mode == "partial":
            connection.sendall(b"GET /_matrix/client/versions HTTP/1.1\r\nHost: localhost\r\n")
        connections.append(connection)
    time.sleep(3)
    after = rss_kib(pid)
    print(f"{mode}: {count} connections, RSS {before} KiB -> {after} KiB, "
          f"{(after - before) / count:.1f} KiB per connection")
    for connection in connections:
        connection.close()


if __name__ == "__main__":
    main()
