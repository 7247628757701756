#!/usr/bin/env python3
"""Turns mta_dialogue.py transcripts (one/pipe/pipe-ehlo/batch) into one table per server."""
import re, sys

def parse(path):
    probes = []   # list of dict(name, mail, rcpt, notes)
    cur = None
    pending_conn = False
    for line in open(path):
        line = line.rstrip("\n")
        if "[new connection]" in line:
            pending_conn = True
            continue
        m = re.match(r"^  (\S.*?)\s*$", line)
        if m and not line.startswith("   "):
            cur = {"name": m.group(1), "mail": None, "rcpt": None, "rset": None, "notes": []}
            if pending_conn and probes:
                cur["notes"].append("new conn")
            pending_conn = False
            probes.append(cur)
            continue
        m = re.match(r"^      (RSET|MAIL FROM:.*?|RCPT TO:.*?)\s+-> (.*)$", line)
        if m and cur is not None:
            cmd, rep = m.group(1), m.group(2)
            key = "rset" if cmd == "RSET" else ("mail" if cmd.startswith("MAIL") else "rcpt")
            cur[key] = rep
            continue
        if "**" in line and cur is not None:
            cur["notes"].append(line.strip())
    # merge repeated probes (after reconnect): keep the last full attempt, note the first
    merged = {}
    order = []
    for p in probes:
        if p["name"] in merged:
            first = merged[p["name"]]
            p["notes"] = [f"1st try: RSET {first['rset']} MAIL {first['mail']}"] + first["notes"] + p["notes"]
        else:
            order.append(p["name"])
        merged[p["name"]] = p
    return [merged[n] for n in order]

def short(r):
    if r is None: return "-"
    r = r.replace("mx.relaycheck.test", "SRV").replace("127.0.0.1", "IP")
    return r[:90]

for path in sys.argv[1:]:
    print(f"#### {path}")
    for p in parse(path):
        notes = ("   {" + "; ".join(p["notes"]) + "}") if p["notes"] else ""
        rset = "" if (p["rset"] or "").startswith("250") else f"  RSET: {short(p['rset'])}"
        print(f"{p['name'][:45]:45s} | MAIL {short(p['mail'])[:50]:50s} | RCPT {short(p['rcpt'])}{rset}{notes}")
