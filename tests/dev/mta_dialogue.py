#!/usr/bin/env python3
"""Records how a mail server on loopback answers relaycheck's probe dialogue
(a developer's note, not a test: start a fixture, e.g. from a scratch test,
and point this at its port).

usage: tests/dev/mta_dialogue.py PORT [IP [MODE...]]
  MODE one        one command at a time, a fresh connection whenever dropped
       pipe       EHLO, then every RSET/MAIL/RCPT in one write
       pipe-ehlo  EHLO and everything else in one write
       batch      RSET+MAIL+RCPT of each probe in one write
Never sends DATA. Connects only to a loopback address.
tests/dev/mta_summary.py turns the transcripts into one line per probe.
"""
import socket, sys, time

PORT = int(sys.argv[1])
IP = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
assert IP.startswith("127."), "loopback only"

def probes(srv, ip):
    s = "relaycheck@example.com"
    out = [
        ("manual", s, "relaycheck@example.net"),
        ("null sender", "", "relaycheck@example.net"),
        ("unqualified sender", "relaycheck", "relaycheck@example.net"),
        ("sender at server", f"relaycheck@{srv}", "relaycheck@example.net"),
        ("sender at ip", f"relaycheck@[{ip}]", "relaycheck@example.net"),
        ("spoofed local", "postmaster@relaycheck.test", "relaycheck@example.net"),
    ]
    for r in [f"relaycheck%example.net@[{ip}]", f"relaycheck%example.net@{srv}",
              "relaycheck%example.net@localhost", '"relaycheck@example.net"', '"relaycheck%example.net"',
              f"relaycheck@example.net@[{ip}]", f'"relaycheck@example.net"@[{ip}]',
              f"relaycheck@example.net@{srv}", f"@[{ip}]:relaycheck@example.net",
              f"@{srv}:relaycheck@example.net", "example.net!relaycheck",
              f"example.net!relaycheck@[{ip}]", f"example.net!relaycheck@{srv}",
              "relaycheck@example.net@", "relaycheck@example.net.",
              f"relaycheck%example.net@[IPv6:::ffff:{ip}]",
              f"postmaster@{srv}", f"relaycheck-nx-5f3a9c@{srv}", f"relaycheck-nx-5f3a9c@[{ip}]",
              "relaycheck-nx-5f3a9c@localhost", "relaycheck-nx-5f3a9c"]:
        out.append((r, s, r))
    return out

class Conn:
    def __init__(self):
        self.sock = socket.create_connection((IP, PORT), timeout=15)
        self.buf = b""
        self.t0 = time.monotonic()
    def send(self, data):
        self.sock.sendall(data)
    def line(self):
        while b"\r\n" not in self.buf and b"\n" not in self.buf:
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                return None
            except ConnectionResetError:
                return None
            if not d:
                return None
            self.buf += d
        i = self.buf.index(b"\n")
        l, self.buf = self.buf[:i].rstrip(b"\r"), self.buf[i + 1:]
        return l.decode("latin1")
    def reply(self):
        lines = []
        while True:
            l = self.line()
            if l is None:
                return ("EOF" if not lines else " / ".join(lines) + " [EOF mid-reply]")
            lines.append(l)
            if len(l) < 4 or l[3] != "-":
                return " / ".join(lines) if len(lines) < 3 else lines[0] + f" (+{len(lines)-1} lines)"
    def close(self):
        try: self.sock.close()
        except Exception: pass

def start(log):
    c = Conn()
    banner = c.reply()
    log(f"    [new connection] banner: {banner}")
    return c, banner

def short(r):
    return r if len(r) < 110 else r[:107] + "..."

def one_at_a_time(srv):
    print("== one command at a time ==")
    log = print
    c, _ = start(log)
    c.send(b"EHLO relaycheck.invalid\r\n"); log("    EHLO -> " + c.reply())
    errors = 0
    for name, s, r in probes(srv, IP):
        for attempt in (1, 2):
            res = []
            dropped = False
            for cmd in ["RSET", f"MAIL FROM:<{s}>", f"RCPT TO:<{r}>"]:
                c.send(cmd.encode() + b"\r\n")
                rep = c.reply()
                res.append((cmd, rep))
                if rep.startswith("EOF") or rep.startswith("421"):
                    dropped = True
                    break
            print(f"  {name:40s}")
            for cmd, rep in res:
                print(f"      {cmd:60s} -> {short(rep)}")
            if dropped:
                print("      ** dropped: reconnecting and repeating this probe")
                c.close()
                c, _ = start(log)
                c.send(b"EHLO relaycheck.invalid\r\n"); log("    EHLO -> " + c.reply())
                continue
            break
    c.send(b"QUIT\r\n"); print("    QUIT -> " + c.reply()); c.close()

def pipelined(srv, with_ehlo):
    print(f"== pipelined: {'EHLO and ' if with_ehlo else 'EHLO waited for, then '}all probes in ONE write ==")
    c, _ = start(print)
    cmds = []
    if not with_ehlo:
        c.send(b"EHLO relaycheck.invalid\r\n"); print("    EHLO -> " + c.reply())
    else:
        cmds.append("EHLO relaycheck.invalid")
    names = {}
    for name, s, r in probes(srv, IP):
        names[len(cmds)] = name
        cmds += ["RSET", f"MAIL FROM:<{s}>", f"RCPT TO:<{r}>"]
    c.send(b"".join(x.encode() + b"\r\n" for x in cmds))
    for i, cmd in enumerate(cmds):
        rep = c.reply()
        if i in names:
            print(f"  {names[i]}")
        print(f"      {cmd:60s} -> {short(rep)}")
        if rep.startswith("EOF"):
            print(f"      ** connection closed; {len(cmds) - i - 1} commands unanswered")
            break
    c.close()

def per_probe_batches(srv):
    print("== pipelined per probe: RSET+MAIL+RCPT in one write, wait for 3 replies ==")
    c, _ = start(print)
    c.send(b"EHLO relaycheck.invalid\r\n"); print("    EHLO -> " + c.reply())
    for name, s, r in probes(srv, IP):
        cmds = ["RSET", f"MAIL FROM:<{s}>", f"RCPT TO:<{r}>"]
        c.send(b"".join(x.encode() + b"\r\n" for x in cmds))
        print(f"  {name}")
        dropped = False
        for cmd in cmds:
            rep = c.reply()
            print(f"      {cmd:60s} -> {short(rep)}")
            if rep.startswith("EOF"):
                dropped = True
                break
        if dropped:
            print("      ** dropped: reconnecting (probe not repeated)")
            c.close()
            c, _ = start(print)
            c.send(b"EHLO relaycheck.invalid\r\n"); print("    EHLO -> " + c.reply())
    c.close()

if __name__ == "__main__":
    c, banner = start(print)
    c.close()
    srv = banner.split()[1] if banner.startswith("220") else "mx.relaycheck.test"
    print(f"banner: {banner}\nSRV = {srv}, IP = {IP}")
    modes = sys.argv[3:] or ["one", "pipe", "pipe-ehlo", "batch"]
    for m in modes:
        {"one": lambda: one_at_a_time(srv), "pipe": lambda: pipelined(srv, False),
         "pipe-ehlo": lambda: pipelined(srv, True), "batch": lambda: per_probe_batches(srv)}[m]()
