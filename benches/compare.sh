#!/usr/bin/env bash
# Ianus against Debian's Janus 1.1.2: the same scenarios, the same tool (ianus-load), the same
# machine, one run. Both servers run in a network namespace of their own (Janus gathers no ICE
# candidates on a loopback interface: the namespace has a veth carrying 127.0.0.2/32, see
# shared testing.md), media stays on that host address, and the tool runs in the namespace too.
#
#   benches/compare.sh           # the full series (~5 min), results in benches/results/
#   benches/compare.sh --quick   # the smallest rows (< 5 min), results in benches/results/quick/
#   options: --out DIR, --duration S, --warmup S;  KEEP_TMP=1 keeps configs and server logs
#
# Per row it prints both servers' figures and the ratio Ianus/Janus, writes every report as
# JSON plus a combined results.json, and plots CPU per subscriber stream against subscribers
# (cpu_per_substream.png, needs gnuplot). The last two lines are
#   ratio audiobridge cpu-per-participant ianus/janus: X.XX
#   ratio forwarded-packets-per-cpu-second ianus/janus: X.XX
# (geometric means over the AudioBridge rows, resp. the VideoRoom rows, both servers ran).
# AudioBridge rows: "ab-N" all N participants talk (a tone, the worst case for a mixer);
# "ab-N-tK" K talk and the others send a quiet microphone, with the audio level, as browsers
# do. Needs root (ip netns).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
QUICK=0
OUT=""
DURATION=""
WARMUP=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --out) OUT=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$QUICK" = 1 ]; then
  OUT=${OUT:-benches/results/quick}; DURATION=${DURATION:-8}; WARMUP=${WARMUP:-2}
  ROWS=(
    "vr-1x10|videoroom --publishers 1 --subscribers 10 --bitrate 1000000"
    "vr-1x50|videoroom --publishers 1 --subscribers 50 --bitrate 1000000"
    "vr-mesh10|videoroom --publishers 10 --mesh --bitrate 1000000"
    "ab-10|audiobridge --participants 10"
    "ab-10-t2|audiobridge --participants 10 --talkers 2"
  )
else
  OUT=${OUT:-benches/results}; DURATION=${DURATION:-15}; WARMUP=${WARMUP:-3}
  ROWS=(
    "vr-1x10|videoroom --publishers 1 --subscribers 10 --bitrate 1000000"
    "vr-1x50|videoroom --publishers 1 --subscribers 50 --bitrate 1000000"
    "vr-1x100|videoroom --publishers 1 --subscribers 100 --bitrate 1000000"
    "vr-1x200|videoroom --publishers 1 --subscribers 200 --bitrate 1000000"
    "vr-mesh10|videoroom --publishers 10 --mesh --bitrate 1000000"
    "ab-10|audiobridge --participants 10"
    "ab-50|audiobridge --participants 50"
    "ab-50-t5|audiobridge --participants 50 --talkers 5"
  )
fi

log() { echo "[compare $(date +%H:%M:%S)] $*" >&2; }
die() { echo "compare.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (ip netns); run it as root"
command -v ip >/dev/null || die "iproute2 missing: apt-get install -y iproute2"
if ! command -v janus >/dev/null || [ ! -f /etc/janus/janus.jcfg ]; then
  log "installing Debian's Janus"; apt-get install -y janus >/dev/null
fi
if ! command -v gnuplot >/dev/null; then
  log "installing gnuplot-nox (for the plot)"; apt-get install -y gnuplot-nox >/dev/null || log "no gnuplot: no plot"
fi

log "building ianus and ianus-load (release)"
cargo build --release -p ianus -p ianus-benches --bin ianus --bin ianus-load >&2
TOOL=$ROOT/target/release/ianus-load
IANUS=$ROOT/target/release/ianus

TMP=$(mktemp -d /tmp/ianus-compare.XXXXXX)
NS=ianus-cmp-$$
JANUS_PID=""
IANUS_PID=""
cleanup() {
  for p in $IANUS_PID $JANUS_PID; do
    kill "$p" 2>/dev/null || true
  done
  for p in $IANUS_PID $JANUS_PID; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  ip netns del "$NS" 2>/dev/null || true
  if [ -z "${KEEP_TMP:-}" ]; then rm -rf "$TMP"; else log "kept $TMP"; fi
}
trap cleanup EXIT INT TERM

ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add jv0 type veth peer name jv1
ip -n "$NS" addr add 127.0.0.2/32 dev jv0
ip -n "$NS" link set jv0 up
ip -n "$NS" link set jv1 up
IN_NS=(ip netns exec "$NS")

# Janus: Debian's sample configuration with the changes the namespace needs (candidates on
# jv0, no mDNS), without the script plugins and the message-bus transports. Ports as stock.
JC=$TMP/janus
mkdir -p "$JC"
cp /etc/janus/*.jcfg "$JC"/
sed -i -E \
  -e "s|^(\s*)configs_folder\s*=.*$|\1configs_folder = \"$JC\"|" \
  -e 's|^(\s*)#ignore_mdns\s*=.*$|\1ignore_mdns = true|' \
  -e 's|^(\s*)#ice_enforce_list\s*=\s*"eth0"\s*$|\1ice_enforce_list = "jv0"|' \
  -e 's|^(\s*)#disable\s*=\s*"libjanus_voicemail\.so,libjanus_recordplay\.so"\s*$|\1disable = "libjanus_lua.so,libjanus_duktape.so"|' \
  -e 's|^(\s*)#disable\s*=\s*"libjanus_rabbitmq\.so"\s*$|\1disable = "libjanus_rabbitmq.so,libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so"|' \
  "$JC/janus.jcfg"
for key in 'configs_folder = "' 'ignore_mdns = true' 'ice_enforce_list = "jv0"' 'libjanus_lua.so' 'libjanus_pfunix.so'; do
  grep -q "$key" "$JC/janus.jcfg" || die "janus.jcfg: could not apply '$key' (unexpected /etc/janus/janus.jcfg)"
done
JANUS_WS=8188
# Janus 1.1.2 sometimes aborts while being stopped at the end (after its rows): no core
# file in the repository for that.
ulimit -c 0
"${IN_NS[@]}" /usr/bin/janus -F "$JC" -C "$JC/janus.jcfg" -o -i 127.0.0.2 >"$TMP/janus.log" 2>&1 &
JANUS_PID=$!

# Ianus: defaults, other ports (same namespace), media on the namespace's host address.
IANUS_WS=8189
cat >"$TMP/ianus.toml" <<TOML
[http]
port = 8089
[websockets]
port = $IANUS_WS
[admin]
http_port = 7089
ws_port = 7189
[media]
ip = "127.0.0.2"
port = 20000
TOML
"${IN_NS[@]}" "$IANUS" --config "$TMP/ianus.toml" >"$TMP/ianus.log" 2>&1 &
IANUS_PID=$!

wait_port() { # name pid port
  for _ in $(seq 300); do
    kill -0 "$2" 2>/dev/null || { tail -30 "$TMP/$1.log" >&2; die "$1 exited before it listened"; }
    if "${IN_NS[@]}" bash -c "exec 3<>/dev/tcp/127.0.0.1/$3" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  tail -30 "$TMP/$1.log" >&2
  die "$1 did not listen on $3 within 30 s"
}
wait_port janus "$JANUS_PID" "$JANUS_WS"
wait_port ianus "$IANUS_PID" "$IANUS_WS"
log "janus pid $JANUS_PID (ws $JANUS_WS), ianus pid $IANUS_PID (ws $IANUS_WS), namespace $NS"

mkdir -p "$OUT/json"
rm -f "$OUT"/json/*.json
ROWFILE=$TMP/rows.txt
: >"$ROWFILE"
for row in "${ROWS[@]}"; do
  name=${row%%|*}
  args=${row#*|}
  echo "$name|$args" >>"$ROWFILE"
  for server in janus ianus; do
    if [ $server = janus ]; then port=$JANUS_WS; pid=$JANUS_PID; else port=$IANUS_WS; pid=$IANUS_PID; fi
    kill -0 "$pid" 2>/dev/null || { tail -30 "$TMP/$server.log" >&2; die "$server died"; }
    json=$OUT/json/$name.$server.json
    log "$name on $server: ianus-load $args"
    set +e
    # shellcheck disable=SC2086
    "${IN_NS[@]}" "$TOOL" --url "ws://127.0.0.1:$port" --server-pid "$pid" --bind 127.0.0.2 \
      --duration "$DURATION" --warmup "$WARMUP" --max-runtime 240 --label "$server $name" \
      --json "$json" --quiet $args >"$TMP/$name.$server.out" 2>"$TMP/$name.$server.err"
    rc=$?
    set -e
    case $rc in
      0) ;;
      3) log "$name on $server: not available ($(tail -1 "$TMP/$name.$server.err"))"
         printf '{"label": "%s %s", "not_available": true}\n' "$server" "$name" >"$json" ;;
      *) log "$name on $server: failed (exit $rc): $(tail -3 "$TMP/$name.$server.err")"
         printf '{"label": "%s %s", "failed": %s}\n' "$server" "$name" \
           "$(tail -1 "$TMP/$name.$server.err" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read().strip()))')" >"$json" ;;
    esac
    sleep 1
  done
done

MACHINE=$(python3 - <<'PY'
import json, os, platform, subprocess
def sh(c):
    try: return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception: return ""
model = next((l.split(':',1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), '')
mem = next((l.split()[1] for l in open('/proc/meminfo') if l.startswith('MemTotal')), '0')
print(json.dumps({
  "cpu": model, "cpus": os.cpu_count(), "mem_gib": round(int(mem)/1048576, 1),
  "kernel": platform.release(), "os": sh(". /etc/os-release; echo $PRETTY_NAME"),
  "janus": sh("dpkg-query -W -f='${Version}' janus"), "rustc": sh("rustc --version"),
  "ianus_commit": sh("git rev-parse --short HEAD") + (" (+ uncommitted changes)" if sh("git status --porcelain") else ""),
}))
PY
)

python3 - "$OUT" "$ROWFILE" "$QUICK" "$DURATION" "$WARMUP" "$MACHINE" <<'PY'
import json, math, os, subprocess, sys, datetime
out, rowfile, quick, duration, warmup, machine = sys.argv[1:7]
rows = [l.rstrip('\n').split('|', 1) for l in open(rowfile) if l.strip()]
def load(name, server):
    try: return json.load(open(f"{out}/json/{name}.{server}.json"))
    except Exception as e: return {"failed": str(e)}
def g(r, *path):
    for p in path:
        if isinstance(p, int):
            if not isinstance(r, list) or len(r) <= p or r[p] is None: return None
        elif not isinstance(r, dict) or r.get(p) is None: return None
        r = r[p]
    return r
metrics = [
  ("server CPU %", ("server", "cpu_pct"), "{:.1f}"),
  ("CPU µs/packet", ("server", "cpu_us_per_packet"), "{:.2f}"),
  ("mcores/sub-stream", ("server", "millicores_per_sub_stream"), "{:.2f}"),  # AudioBridge: per participant
  ("fwd packets/s", ("forwarded_pps",), "{:.0f}"),
  ("packets/CPU-s", ("server", "packets_per_cpu_second"), "{:.0f}"),
  ("loss %", ("loss", "loss_pct"), "{:.3f}"),
  ("integrity fails", ("integrity", "failures"), "{}"),
  ("latency p50 µs", ("latency_us", "p50"), "{}"),
  ("latency p99 µs", ("latency_us", "p99"), "{}"),
  ("server RSS MiB", ("server", "rss_bytes"), "mib"),
  ("tool CPU %", ("tool", "cpu_pct"), "{:.1f}"),
  ("setup s", ("setup_s",), "{:.2f}"),
  ("machine load 1m", ("loadavg_1m", 1), "{:.2f}"),
]
def fmt(v, f):
    if v is None: return "n/a"
    if f == "mib": return f"{v/1048576:.1f}"
    return f.format(v)
combined = {"generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": "benches/compare.sh" + (" --quick" if quick == "1" else ""),
            "duration_s": float(duration), "warmup_s": float(warmup),
            "machine": json.loads(machine), "rows": []}
lines = []
ratios = []
ab_ratios = []
for name, args in rows:
    j, i = load(name, "janus"), load(name, "ianus")
    combined["rows"].append({"row": name, "args": args, "janus": j, "ianus": i})
    lines.append(f"\n== {name}: ianus-load {args}")
    lines.append(f"{'':20} {'janus':>12} {'ianus':>12} {'ianus/janus':>12}")
    for label, path, f in metrics:
        a, b = g(j, *path), g(i, *path)
        ratio = f"{b/a:.2f}" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a else ""
        if j.get("not_available"): a = None
        lines.append(f"{label:20} {fmt(a, f):>12} {fmt(b, f):>12} {ratio:>12}")
    for who, r in (("janus", j), ("ianus", i)):
        if r.get("not_available"): lines.append(f"  {who}: not available on this server")
        elif r.get("failed"): lines.append(f"  {who}: FAILED: {r['failed']}")
        else:
            sc, tc, lp = g(r, "server", "cpu_pct") or 0, g(r, "tool", "cpu_pct") or 0, g(r, "loss", "loss_pct") or 0
            if sc > 85 or tc > 85 or lp > 1 or (g(r, "streams_without_media") or 0) > 0:
                lines.append(f"  note: {who} may be saturated or failing here (server CPU {sc:.0f} %, tool CPU {tc:.0f} %, "
                             f"loss {lp:.2f} %, streams without media {g(r, 'streams_without_media')})")
    if name.startswith("ab-"):
        a, b = g(j, "server", "millicores_per_sub_stream"), g(i, "server", "millicores_per_sub_stream")
        if a and b: ab_ratios.append(b / a)
    else:
        a, b = g(j, "server", "packets_per_cpu_second"), g(i, "server", "packets_per_cpu_second")
        if a and b: ratios.append(b / a)
report = "\n".join(lines)
def geomean(rs): return math.exp(sum(math.log(r) for r in rs) / len(rs)) if rs else None
geo, ab_geo = geomean(ratios), geomean(ab_ratios)
combined["ratio_packets_per_cpu_second_geomean"] = geo
combined["ratio_rows"] = len(ratios)
combined["ratio_audiobridge_cpu_per_participant_geomean"] = ab_geo
combined["ratio_audiobridge_rows"] = len(ab_ratios)
json.dump(combined, open(f"{out}/results.json", "w"), indent=2)
# Plot: CPU per subscriber stream against subscribers (the 1 x S rows).
pts = []
for name, args in rows:
    if not name.startswith("vr-1x"): continue
    s = int(name.split("x")[1])
    j, i = combined["rows"][[r["row"] for r in combined["rows"]].index(name)]["janus"], None
    i = combined["rows"][[r["row"] for r in combined["rows"]].index(name)]["ianus"]
    pts.append((s, g(j, "server", "millicores_per_sub_stream"), g(i, "server", "millicores_per_sub_stream")))
if pts and subprocess.run("command -v gnuplot", shell=True, capture_output=True).returncode == 0:
    dat = f"{out}/cpu_per_substream.dat"
    with open(dat, "w") as fh:
        fh.write("# subscribers janus_mcores_per_stream ianus_mcores_per_stream\n")
        for s, a, b in pts:
            fh.write(f"{s} {a if a is not None else 'NaN'} {b if b is not None else 'NaN'}\n")
    m = json.loads(machine)
    script = f"""
set terminal png size 900,560
set output '{out}/cpu_per_substream.png'
set title "Server CPU per subscriber stream, 1 publisher x N subscribers, VP8 1 Mbit/s\\n{m.get('cpu','')} ({m.get('cpus')} cores)"
set xlabel 'subscribers'
set ylabel 'millicores per subscriber stream (lower is better)'
set key top right
set grid
set yrange [0:*]
plot '{dat}' using 1:2 with linespoints lw 2 pt 7 title 'Janus {m.get('janus','')}', \\
     '{dat}' using 1:3 with linespoints lw 2 pt 5 title 'Ianus'
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=False)
    os.remove(dat)
ab_last = (f"ratio audiobridge cpu-per-participant ianus/janus: {ab_geo:.2f}" if ab_geo is not None
           else "ratio audiobridge cpu-per-participant ianus/janus: n/a (no AudioBridge row ran on both servers)")
last = (f"ratio forwarded-packets-per-cpu-second ianus/janus: {geo:.2f}" if geo is not None
        else "ratio forwarded-packets-per-cpu-second ianus/janus: n/a (no VideoRoom row ran on both servers)")
tail = (f"\n(geometric means over {len(ab_ratios)} AudioBridge rows, lower is better for Ianus, "
        f"and {len(ratios)} VideoRoom rows, higher is better)\n{ab_last}\n{last}")
open(f"{out}/summary.txt", "w").write(report.lstrip("\n") + "\n" + tail + "\n")
print(report)
print(tail)
PY
