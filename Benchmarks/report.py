#!/usr/bin/env python3
"""Turns the JSON results of scripts/bench into docs/BENCHMARKS.md and a chart (SVG).

    python3 Benchmarks/report.py RESULTS_DIR OUT.md [EARLIER_RESULTS_DIR]

RESULTS_DIR holds SCENARIO.PEER.REP.json (one tcpchat-bench --json each) and environment.txt;
the cluster scenario's PEER is its setup, `one` server or `two` sharing the room through Redis;
the irc100 scenario's peers are `tcpchat` and `ngircd`, both spoken to in IRC; the tls100 and
tlslatency scenarios' are `tcpchat-tls` and `ncat-tls` (over TLS) and, for tls100, `tcpchat`.
With EARLIER_RESULTS_DIR (scripts/bench --merge), every scenario RESULTS_DIR has no result for
comes from there, and the report says which run each scenario comes from.
Every figure is the median over the repetitions. The hand-written part of the report (what
was changed, profiles, why a target is missed) comes from Benchmarks/NOTES.md. Standard
library only, so it runs wherever python3 does.
"""
import glob
import json
import os
import statistics
import sys

PEERS = ["tcpchat", "c", "nio", "ncat"]
PEER_NAMES = {"tcpchat": "tcpchat", "c": "C reference", "nio": "NIOChatServer", "ncat": "ncat --chat"}
# Issue 19's bound on an idle connection's server memory.
IDLE_BYTES = 256
SCENARIOS = ["room100", "room1000", "latency", "idle10k", "slowreader", "flood"]
# The cluster scenario's setups, in place of peers (tcpchat alone takes part).
CLUSTER_SETUPS = ["one", "two"]
# The irc100 scenario's servers (room100's load through IRC clients).
IRC_PEERS = ["tcpchat", "ngircd"]
# The TLS scenarios' servers: tcpchat and ncat --ssl --chat over TLS, tcpchat in plaintext.
TLS_PEERS = ["tcpchat-tls", "ncat-tls", "tcpchat"]
TLS_SCENARIOS = ["tls100", "tlslatency"]
QUEUE_CAP_KIB = 256


def load(results):
    runs = {}
    for path in glob.glob(os.path.join(results, "*.json")):
        scenario, peer, _rep, _ = os.path.basename(path).split(".")
        with open(path) as f:
            data = json.load(f)
        data["serverDied"] = os.path.exists(path[:-5] + ".died")
        runs.setdefault((scenario, peer), []).append(data)
    env = {}
    with open(os.path.join(results, "environment.txt")) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            env[key] = value
    return runs, env


def merge(runs, env, earlier_runs, earlier_env):
    """This run's results, and the earlier run's for every scenario this run did not measure.
    Returns the results and the sources: (scenarios, environment) of each run used."""
    measured = sorted({sc for sc, _ in runs}, key=scenario_order)
    kept = sorted({sc for sc, _ in earlier_runs} - set(measured), key=scenario_order)
    merged = dict(runs)
    merged.update({key: value for key, value in earlier_runs.items() if key[0] in kept})
    sources = [(measured, env)] + ([(kept, earlier_env)] if kept else [])
    return merged, sources


def load_earlier(directory):
    """An earlier run's results and environment, which remembers where it was kept."""
    runs, env = load(directory)
    env["kept_in"] = directory
    return runs, env


def scenario_order(scenario):
    order = SCENARIOS + ["cluster", "irc100"] + TLS_SCENARIOS + ["maxconn"]
    return order.index(scenario) if scenario in order else len(order)


def median(runs, key):
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def summary(runs):
    """Median of every numeric field over the repetitions of one scenario × peer."""
    if not runs:
        return None
    keys = {k for r in runs for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    s = {k: median(runs, k) for k in keys}
    s["runs"] = len(runs)
    s["cutShort"] = sum(1 for r in runs if r.get("cutShort"))
    s["serverDied"] = sum(1 for r in runs if r["serverDied"])
    if s.get("rssPeakKiB") is not None and s.get("rssConnectedKiB") is not None:
        s["rssGrowthKiB"] = median([dict(g=r["rssPeakKiB"] - r["rssConnectedKiB"]) for r in runs
                                    if r.get("rssPeakKiB") is not None and r.get("rssConnectedKiB") is not None], "g")
    return s


def num(value, digits=0):
    if value is None:
        return "–"
    if digits == 0:
        return f"{value:,.0f}".replace(",", " ")
    return f"{value:,.{digits}f}".replace(",", " ")


def ratio(a, b, digits=2):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.{digits}f}×"


def delivery_cell(s):
    if s is None:
        return "–"
    text = num(s.get("deliveriesPerSecond"))
    lost = s.get("lost") or 0
    expected = s.get("expectedDeliveries") or 0
    if lost:
        text += f" ({lost / expected:.0%} lost)" if expected else f" ({num(lost)} lost)"
    if s.get("cutShort"):
        text += f" (cut at --max-seconds in {s['cutShort']} of {s['runs']} runs)"
    if s.get("serverDied"):
        text += f" (server died in {s['serverDied']} of {s['runs']} runs)"
    return text


def verdict(ok):
    return "met" if ok else "**missed**"


def build(runs, env, notes, sources=None):
    S = {(sc, p): summary(runs.get((sc, p), [])) for sc in SCENARIOS + ["maxconn"] for p in PEERS}
    S.update({("cluster", setup): summary(runs.get(("cluster", setup), [])) for setup in CLUSTER_SETUPS})
    S.update({("irc100", p): summary(runs.get(("irc100", p), [])) for p in IRC_PEERS})
    S.update({(sc, p): summary(runs.get((sc, p), [])) for sc in TLS_SCENARIOS for p in TLS_PEERS})
    get = lambda sc, p, k: (S[(sc, p)] or {}).get(k)
    # The environment a scenario's figures come from (this run's unless merged from an earlier one).
    env_of = lambda sc: next((e for scs, e in sources or [] if sc in scs), env)
    lines = []
    out = lines.append
    out("# Benchmarks")
    out("")
    out("Generated by `scripts/bench` (do not edit by hand; the notes come from `Benchmarks/NOTES.md`).")
    if sources and len(sources) > 1:
        out("Every figure is the median of the repetitions of the run it comes from (below: "
            "`scripts/bench --merge` put the scenarios of two runs together). The server runs pinned "
            "to CPU 0, `tcpchat-bench` (the load generator) pinned to CPU 1; each run starts a fresh server.")
        out("")
        out(f"- machine: {env.get('machine')}")
        for scenarios, e in sources:
            kept = f" (an earlier run, its results kept in `{e['kept_in']}`)" if e.get("kept_in") else " (the latest run)"
            out(f"- {', '.join(scenarios)}{kept}: {e.get('runs', '?')} runs of tcpchat-server {e.get('tcpchat')}; "
                f"{e.get('load')}")
        e = env_of("room100")
        out(f"- {e.get('swift')}; {e.get('gcc')}; {e.get('ncat')}; {e.get('nio')}"
            + (f"; {env.get('redis')}" if env.get("redis") else ""))
        out(f"- descriptor limit {env.get('fdlimit')} (hard)")
    else:
        out(f"Every figure is the median of {env.get('runs', '?')} runs. The server runs pinned to CPU 0, "
            "`tcpchat-bench` (the load generator) pinned to CPU 1; each run starts a fresh server.")
        out("")
        out(f"- machine: {env.get('machine')}; {env.get('load')}")
        out(f"- {env.get('swift')}; {env.get('gcc')}; {env.get('ncat')}; {env.get('nio')}"
            + (f"; {env.get('redis')}" if env.get("redis") and S[("cluster", "two")] else ""))
        out(f"- tcpchat-server {env.get('tcpchat')}; descriptor limit {env.get('fdlimit')} (hard)")
    out("")
    out("![deliveries/s and p99 latency per peer](BENCHMARKS.svg)")
    out("")
    out("## Results")
    out("")
    out("| scenario | measure | tcpchat | C reference | NIOChatServer | ncat --chat |")
    out("|---|---|---:|---:|---:|---:|")
    for sc in ["room100", "room1000"]:
        out(f"| {sc} | deliveries/s | " + " | ".join(delivery_cell(S[(sc, p)]) for p in PEERS) + " |")
        out(f"| {sc} | server CPU ns per delivery | " + " | ".join(num(get(sc, p, "serverNanosecondsPerDelivery")) for p in PEERS) + " |")
        out(f"| {sc} | p99 latency ms | " + " | ".join(num(get(sc, p, "latencyP99Ms"), 1) for p in PEERS) + " |")
    out("| latency | p50 / p99 ms | " + " | ".join(
        f"{num(get('latency', p, 'latencyP50Ms'), 2)} / {num(get('latency', p, 'latencyP99Ms'), 2)}" if S[("latency", p)] else "–"
        for p in PEERS) + " |")
    out("| latency | lost | " + " | ".join(num(get("latency", p, "lost")) for p in PEERS) + " |")
    out("| idle10k | connections held | " + " | ".join(
        f"{num(get('idle10k', p, 'registered'))} of {num(get('idle10k', p, 'clients'))}" if S[("idle10k", p)] else "–"
        for p in PEERS) + " |")
    out("| idle10k | server RSS per connection | " + " | ".join(
        (num(get("idle10k", p, "rssPerConnectionBytes")) + " B") if get("idle10k", p, "rssPerConnectionBytes") is not None else "–"
        for p in PEERS) + " |")
    out("| slowreader | others: deliveries/s | " + " | ".join(delivery_cell(S[("slowreader", p)]) for p in PEERS) + " |")
    out("| slowreader | others: p99 ms | " + " | ".join(num(get("slowreader", p, "latencyP99Ms"), 1) for p in PEERS) + " |")
    out("| slowreader | server RSS growth | " + " | ".join(
        (num(get("slowreader", p, "rssGrowthKiB")) + " KiB") if get("slowreader", p, "rssGrowthKiB") is not None else "–"
        for p in PEERS) + " |")
    out("| slowreader | slow reader dropped | " + " | ".join(
        ("yes" if get("slowreader", p, "slowReadersDropped") else "no") if S[("slowreader", p)] else "–" for p in PEERS) + " |")
    if any(S[("flood", p)] for p in PEERS):
        out("| flood | readers: deliveries/s | " + " | ".join(delivery_cell(S[("flood", p)]) for p in PEERS) + " |")
        out("| flood | lines lost by readers | " + " | ".join(
            (f"{num(get('flood', p, 'lost'))} of {num(get('flood', p, 'expectedDeliveries'))}") if S[("flood", p)] else "–"
            for p in PEERS) + " |")
        out("| flood | readers dropped by the server | " + " | ".join(
            num(get("flood", p, "closedByServer")) if S[("flood", p)] else "–" for p in PEERS) + " |")
        out("| flood | server RSS growth | " + " | ".join(
            (num(get("flood", p, "rssGrowthKiB")) + " KiB") if get("flood", p, "rssGrowthKiB") is not None else "–"
            for p in PEERS) + " |")
    if S[("maxconn", "tcpchat")]:
        m = S[("maxconn", "tcpchat")]
        out(f"| maxconn | connections held | {num(m.get('registered'))} of {num(m.get('clients'))} | | | |")
        out(f"| maxconn | server RSS per connection | {num(m.get('rssPerConnectionBytes'))} B | | | |")
    one, two = S[("cluster", "one")], S[("cluster", "two")]
    if one or two:
        def compare(key, digits=0, cell=None):
            a, b = get("cluster", "one", key), get("cluster", "two", key)
            shown = cell or (lambda s: num((s or {}).get(key), digits))
            return f"{shown(one)} → {shown(two)} ({ratio(b, a)})"
        out("| cluster | deliveries/s: one server → two + Redis | " + compare("deliveriesPerSecond", cell=delivery_cell) + " | | | |")
        out("| cluster | p99 latency ms: one server → two + Redis | " + compare("latencyP99Ms", 1) + " | | | |")
        out("| cluster | CPU ns per delivery: one server → two servers + Redis | " + compare("serverNanosecondsPerDelivery") + " | | | |")
    irc_t, irc_n = S[("irc100", "tcpchat")], S[("irc100", "ngircd")]
    if irc_t or irc_n:
        def versus(key, digits=0, cell=None):
            shown = cell or (lambda s: num((s or {}).get(key), digits))
            return f"{shown(irc_t)} vs {shown(irc_n)} ({ratio(get('irc100', 'tcpchat', key), get('irc100', 'ngircd', key))})"
        out("| irc100 | deliveries/s: tcpchat (IRC) vs ngIRCd | " + versus("deliveriesPerSecond", cell=delivery_cell) + " | | | |")
        out("| irc100 | server CPU ns per delivery: tcpchat vs ngIRCd | " + versus("serverNanosecondsPerDelivery") + " | | | |")
        out("| irc100 | p99 latency ms: tcpchat vs ngIRCd | " + versus("latencyP99Ms", 1) + " | | | |")
        out("| irc100 | lost: tcpchat vs ngIRCd | " + versus("lost") + " | | | |")
    tls_t, tls_n = S[("tls100", "tcpchat-tls")], S[("tls100", "ncat-tls")]
    tlat_t, tlat_n = S[("tlslatency", "tcpchat-tls")], S[("tlslatency", "ncat-tls")]
    if tls_t or tls_n:
        def over_tls(sc, key, digits=0, cell=None):
            shown = cell or (lambda s: num((s or {}).get(key), digits))
            text = f"{shown(S[(sc, 'tcpchat-tls')])} vs {shown(S[(sc, 'ncat-tls')])} ({ratio(get(sc, 'tcpchat-tls', key), get(sc, 'ncat-tls', key))})"
            plain = S.get((sc, "tcpchat"))
            if plain:
                text += f"; plaintext {shown(plain)} (TLS {ratio(get(sc, 'tcpchat-tls', key), get(sc, 'tcpchat', key))})"
            return text
        out("| tls100 | deliveries/s over TLS: tcpchat vs ncat --ssl --chat | " + over_tls("tls100", "deliveriesPerSecond", cell=delivery_cell) + " | | | |")
        out("| tls100 | server CPU ns per delivery over TLS: tcpchat vs ncat --ssl | " + over_tls("tls100", "serverNanosecondsPerDelivery") + " | | | |")
        out("| tls100 | lost over TLS: tcpchat vs ncat --ssl | " + over_tls("tls100", "lost") + " | | | |")
    if tlat_t or tlat_n:
        out("| tlslatency | p50 latency ms over TLS: tcpchat vs ncat --ssl | " + over_tls("tlslatency", "latencyP50Ms", 2) + " | | | |")
        out("| tlslatency | p99 latency ms over TLS: tcpchat vs ncat --ssl | " + over_tls("tlslatency", "latencyP99Ms", 2) + " | | | |")
    out("")
    out("Deliveries/s: lines received by clients other than their sender, per second, from the first "
        "send to the last delivery. Server CPU per delivery: the CPU time all the server's threads "
        "used while the lines flowed (from /proc/PID/task/*/schedstat), divided by the deliveries: "
        "what a delivery costs the server, which other load on the machine disturbs far less than "
        "deliveries/s. Latency: from the send timestamp in the line to its arrival, over "
        "every delivery. RSS growth: the server's peak resident memory during the run minus its "
        "memory once every client was connected. A `–` means no result (see the notes).")
    out("")
    if one or two:
        out("Cluster (tcpchat alone): room100's load on one `tcpchat-server`, and on two sharing the "
            "room through Redis (`--cluster`) with half the clients and half the senders on each, "
            "both in every repetition. The two servers and `redis-server` all run pinned to CPU 0, "
            "where the one server runs alone, and the load generator on CPU 1: on two CPUs there is "
            "no core to scale out to, so the row prices the cluster path rather than showing a gain. "
            "Its CPU per delivery adds up both servers and Redis.")
        out("")
    if tls_t or tls_n or tlat_t or tlat_n:
        out("tls100, tlslatency: room100's and latency's loads with every client on TLS (`tcpchat-bench "
            "--tls`: TLS 1.3, OpenSSL's default cipher, the certificate not checked), against "
            "`tcpchat-server --no-plain --tls-port` and `ncat --ssl --chat` with an EC P-256 "
            "certificate made for the run (" + (env_of("tls100").get("openssl_version") or "?") + "), and "
            "tcpchat in plaintext beside them in tls100. Each TLS connection encrypts its own copy "
            "of every line: that, not the fan-out, is what TLS adds per delivery. Handshakes per "
            "second and memory per idle TLS connection: `scripts/bench-tls`.")
        out("")
    if irc_t or irc_n:
        out("irc100: room100's load (100 clients, 10 senders, 1 000 lines of 64 bytes each) with every "
            "client speaking IRC (`NICK`, `USER`, `JOIN #lobby`, then `PRIVMSG #lobby :...`), on "
            "`tcpchat-server` and on Debian's ngIRCd (" + (env_of("irc100").get("ngircd_version") or "?") + ") "
            "with its flood penalty off (`MaxPenaltyTime = 0`), one after the other in every repetition, "
            "each pinned to CPU 0.")
        out("")

    # Targets.
    out("## Targets")
    out("")
    out("Throughput targets are judged on deliveries/s, as set; the server-CPU ratio beside it "
        "(the peer's CPU per delivery ÷ tcpchat's) says the same thing without the noise of a shared "
        "machine and without the load generator's ceiling.")
    out("")
    out("| target | figure | by server CPU per delivery | verdict |")
    out("|---|---|---|---|")
    measured = lambda ok, *values: verdict(ok) if all(v is not None for v in values) else "not measured"
    for sc in ["room100", "room1000"]:
        t = get(sc, "tcpchat", "deliveriesPerSecond")
        tn = get(sc, "tcpchat", "serverNanosecondsPerDelivery")
        # Issue 19: against the strong C reference, deliveries/s and server CPU per delivery.
        c, cn = get(sc, "c", "deliveriesPerSecond"), get(sc, "c", "serverNanosecondsPerDelivery")
        out(f"| {sc}: deliveries/s ≥ 1.0× {PEER_NAMES['c']} | {ratio(t, c)} | {ratio(cn, tn)} | "
            f"{measured(t is not None and c and t >= c, t, c)} |")
        out(f"| {sc}: server CPU per delivery ≤ 1.0× {PEER_NAMES['c']}'s | {num(tn)} ns vs {num(cn)} ns ({ratio(tn, cn)}) | | "
            f"{measured(tn is not None and cn and tn <= cn, tn, cn)} |")
        tp, cp = get(sc, "tcpchat", "latencyP99Ms"), get(sc, "c", "latencyP99Ms")
        out(f"| {sc}: p99 latency ≤ 1.1× {PEER_NAMES['c']}'s | {num(tp, 1)} ms vs {num(cp, 1)} ms ({ratio(tp, cp)}) | | "
            f"{measured(tp is not None and cp and tp <= 1.1 * cp, tp, cp)} |")
        for p, need in [("nio", 40), ("ncat", 1.5)]:
            o = get(sc, p, "deliveriesPerSecond")
            on = get(sc, p, "serverNanosecondsPerDelivery")
            ok = t is not None and o and t / o >= need
            out(f"| {sc}: ≥ {need}× {PEER_NAMES[p]} | {ratio(t, o)} | {ratio(on, tn)} | {measured(ok, t, o)} |")
        lost = get(sc, "tcpchat", "lost")
        out(f"| {sc}: zero lines lost | {num(lost)} lost | | {verdict(lost == 0)} |")
    t, c = get("latency", "tcpchat", "latencyP99Ms"), get("latency", "c", "latencyP99Ms")
    out(f"| latency: p99 ≤ 1.1× {PEER_NAMES['c']}'s | {num(t, 2)} ms vs {num(c, 2)} ms ({ratio(t, c)}) | "
        f" | {measured(t is not None and c is not None and t <= 1.1 * c, t, c)} |")
    per = get("idle10k", "tcpchat", "rssPerConnectionBytes")
    out(f"| idle10k: ≤ {IDLE_BYTES} B server RSS per idle connection | {num(per)} B ({PEER_NAMES['c']}: "
        f"{num(get('idle10k', 'c', 'rssPerConnectionBytes'))} B) | | {measured(per is not None and per <= IDLE_BYTES, per)} |")
    held, clients = get("idle10k", "tcpchat", "registered"), get("idle10k", "tcpchat", "clients")
    out(f"| idle10k: every connection held | {num(held)} of {num(clients)} | | {verdict(held is not None and held == clients)} |")
    m = S[("maxconn", "tcpchat")]
    if m:
        out(f"| hold as many connections as the descriptor limit allows ({env.get('fdlimit')}) | "
            f"{num(m.get('registered'))} of {num(m.get('clients'))} | | {verdict(m.get('registered') == m.get('clients'))} |")
        per = m.get("rssPerConnectionBytes")
        out(f"| maxconn: ≤ {IDLE_BYTES} B server RSS per idle connection | {num(per)} B | | "
            f"{measured(per is not None and per <= IDLE_BYTES, per)} |")
    lost = get("slowreader", "tcpchat", "lost")
    out(f"| slowreader: the others lose nothing | {num(lost)} lost | | {verdict(lost == 0)} |")
    t, base = get("slowreader", "tcpchat", "latencyP99Ms"), get("room100", "tcpchat", "latencyP99Ms")
    out(f"| slowreader: others' p99 ≤ 2× room100's | {num(t, 1)} ms vs {num(base, 1)} ms ({ratio(t, base)}) | "
        f" | {verdict(t is not None and base and t <= 2 * base)} |")
    growth, base = get("slowreader", "tcpchat", "rssGrowthKiB"), get("room100", "tcpchat", "rssGrowthKiB")
    extra = growth - base if growth is not None and base is not None else None
    out(f"| slowreader: server memory grows ≤ the queue cap ({QUEUE_CAP_KIB} KiB) more than room100's | "
        f"{num(growth)} KiB vs {num(base)} KiB: {num(extra)} KiB more | | {verdict(extra is not None and extra <= QUEUE_CAP_KIB)} |")
    dropped = get("slowreader", "tcpchat", "slowReadersDropped")
    out(f"| slowreader: the slow reader is dropped | {'yes' if dropped else 'no'} | | {verdict(bool(dropped))} |")
    if S[("flood", "tcpchat")]:
        lost = get("flood", "tcpchat", "lost")
        out(f"| flood: readers that keep reading lose nothing | {num(lost)} lost | | {verdict(lost == 0)} |")
    if two:
        lost = two.get("lost")
        out(f"| cluster: every line reaches every client, on both servers | {num(lost)} lost | | "
            f"{verdict(lost == 0 and not two.get('serverDied'))} |")
    if tls_t or tls_n:
        # Issue 17: room100 over TLS against ncat --ssl --chat, and what TLS costs per delivery.
        t, o = get("tls100", "tcpchat-tls", "deliveriesPerSecond"), get("tls100", "ncat-tls", "deliveriesPerSecond")
        tn, on = get("tls100", "tcpchat-tls", "serverNanosecondsPerDelivery"), get("tls100", "ncat-tls", "serverNanosecondsPerDelivery")
        out(f"| tls100: ≥ 1.5× ncat --ssl --chat over TLS | {ratio(t, o)} | {ratio(on, tn)} | {measured(t is not None and o and t / o >= 1.5, t, o)} |")
        pn = get("tls100", "tcpchat", "serverNanosecondsPerDelivery")
        out(f"| tls100: TLS ≤ 2× plaintext server CPU per delivery | {num(tn)} ns vs {num(pn)} ns ({ratio(tn, pn)}) | | "
            f"{measured(tn is not None and pn and tn <= 2 * pn, tn, pn)} |")
        lost = get("tls100", "tcpchat-tls", "lost")
        out(f"| tls100: zero lines lost over TLS | {num(lost)} lost | | {verdict(lost == 0)} |")
    out("")

    out("## Commands")
    out("")
    out("Each run: `taskset -c 0 prlimit --nofile=LIMIT SERVER` and "
        "`taskset -c 1 tcpchat-bench --port PORT --server-pid PID --json SCENARIO PEER-FLAGS`.")
    out("")
    out("| peer | server | tcpchat-bench flags |")
    out("|---|---|---|")
    for p in PEERS:
        out(f"| {PEER_NAMES[p]} | `{env.get('server_' + p)}` | `{env.get('peerflags_' + p) or '(none)'}` |")
    if tls_t or tls_n or tlat_t or tlat_n:
        e = env_of("tls100") if (tls_t or tls_n) else env_of("tlslatency")
        for p, name in (("tcpchat-tls", "tcpchat over TLS"), ("ncat-tls", "ncat --ssl --chat")):
            out(f"| {name} | `{e.get('server_' + p)}` | `{e.get('peerflags_' + p) or '(none)'}` |")
    out("")
    out("| scenario | tcpchat-bench flags |")
    out("|---|---|")
    tls_run = [sc for sc, ran in (("tls100", tls_t or tls_n), ("tlslatency", tlat_t or tlat_n)) if ran]
    for sc in SCENARIOS + (["cluster"] if one or two else []) + (["irc100"] if irc_t or irc_n else []) + tls_run + ["maxconn"]:
        out(f"| {sc} | `{env_of(sc).get('scenario_' + sc)}` |")
    out("")
    if two:
        e = env_of("cluster")
        out("cluster: the one server is the tcpchat command above; the cluster is "
            f"`{e.get('server_redis')}` and two `{e.get('server_tcpchat')} {e.get('cluster_flags')}`, "
            "all three under `taskset -c 0`, waiting for both servers to log `cluster link up`; then "
            "`taskset -c 1 tcpchat-bench --port PORT1,PORT2 --server-pid REDIS,PID1,PID2 --json` with "
            "the flags above (connection i goes to server i mod 2).")
        out("")
    if irc_n:
        out(f"irc100: ngIRCd is `{env_of('irc100').get('server_ngircd')}`.")
        out("")
    out("Reproduce with `scripts/bench` (about 15 minutes; `--quick` for a 4-minute look).")
    out("")
    if notes:
        out(notes.rstrip())
        out("")
    return "\n".join(lines), S


def chart(S):
    """Two bar groups: deliveries/s (room100, room1000) and p99 latency (latency scenario)."""
    colors = {"tcpchat": "#d9480f", "c": "#495057", "nio": "#1c7ed6", "ncat": "#37b24d"}
    width, height = 760, 360
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>']

    def panel(x0, title, groups, key, unit, fmt):
        pw, ph, top = 340, 240, 50
        svg.append(f'<text x="{x0 + pw / 2}" y="24" text-anchor="middle" font-size="14" font-weight="bold">{title}</text>')
        values = [(S[(g, p)] or {}).get(key) for g in groups for p in PEERS]
        peak = max([v for v in values if v] or [1])
        svg.append(f'<line x1="{x0}" y1="{top + ph}" x2="{x0 + pw}" y2="{top + ph}" stroke="#333"/>')
        gw = pw / len(groups)
        bw = (gw - 20) / len(PEERS)
        for gi, g in enumerate(groups):
            gx = x0 + gi * gw + 10
            svg.append(f'<text x="{gx + (gw - 20) / 2}" y="{top + ph + 18}" text-anchor="middle">{g}</text>')
            for pi, p in enumerate(PEERS):
                v = (S[(g, p)] or {}).get(key)
                if v is None:
                    continue
                h = max(1, ph * v / peak)
                x = gx + pi * bw
                svg.append(f'<rect x="{x:.1f}" y="{top + ph - h:.1f}" width="{bw - 3:.1f}" height="{h:.1f}" fill="{colors[p]}"/>')
                svg.append(f'<text x="{x + (bw - 3) / 2:.1f}" y="{top + ph - h - 4:.1f}" text-anchor="middle" font-size="10">{fmt(v)}</text>')
        svg.append(f'<text x="{x0}" y="{top - 8}" font-size="11" fill="#555">{unit}</text>')

    panel(20, "Deliveries per second (higher is better)", ["room100", "room1000"], "deliveriesPerSecond",
          "deliveries/s", lambda v: f"{v / 1e6:.2f}M" if v >= 1e6 else f"{v / 1e3:.0f}k")
    panel(400, "p99 latency at 1000 msg/s (lower is better)", ["latency"], "latencyP99Ms",
          "milliseconds", lambda v: f"{v:.2f}")
    lx = 20
    for p in PEERS:
        svg.append(f'<rect x="{lx}" y="{height - 30}" width="12" height="12" fill="{colors[p]}"/>')
        svg.append(f'<text x="{lx + 16}" y="{height - 20}">{PEER_NAMES[p]}</text>')
        lx += 150
    svg.append("</svg>")
    return "\n".join(svg) + "\n"


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: report.py RESULTS_DIR OUT.md [EARLIER_RESULTS_DIR]")
    results, out = sys.argv[1], sys.argv[2]
    runs, env = load(results)
    sources = None
    if len(sys.argv) == 4:
        runs, sources = merge(runs, env, *load_earlier(sys.argv[3]))
    notes_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "NOTES.md")
    notes = open(notes_path).read() if os.path.exists(notes_path) else ""
    text, S = build(runs, env, notes, sources)
    with open(out, "w") as f:
        f.write(text + "\n")
    with open(out[:-3] + ".svg" if out.endswith(".md") else out + ".svg", "w") as f:
        f.write(chart(S))


if __name__ == "__main__":
    main()
