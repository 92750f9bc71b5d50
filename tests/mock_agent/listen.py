#!/usr/bin/python3
"""listen.py BANNER ADDR:PORT... — the targets the mock agents must NOT reach.

Listens on every ADDR:PORT given ("0.0.0.0:P", "[::]:P", "198.18.0.2:P"),
answers each connection with BANNER and a newline, and closes it.  Prints
"ready" once every socket is bound, then serves until killed.  run.sh starts
one on the host (0.0.0.0 and [::]) and one inside its test network namespace.
"""
import select
import socket
import sys


def main():
    banner = (sys.argv[1] + "\n").encode()
    socks = []
    for spec in sys.argv[2:]:
        host, port = spec.rsplit(":", 1)
        v6 = host.startswith("[")
        s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if v6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host.strip("[]"), int(port)))
        s.listen(64)
        socks.append(s)
    print("ready", flush=True)
    while True:
        for s in select.select(socks, [], [])[0]:
            try:
                c, _ = s.accept()
                c.settimeout(1)
                c.sendall(banner)
                c.close()
            except OSError:
                pass


if __name__ == "__main__":
    main()
