#!/usr/bin/env python3
"""EchoTest against an independent WebRTC stack: aiortc (ICE, DTLS, SRTP, SCTP written apart
from ours and from the browser's) with a tiny Janus-API client over WebSocket.

It attaches janus.plugin.echotest, offers a synthetic audio track (a 440 Hz sine) and a synthetic
video track (a moving bar) plus a data channel, and checks that echoed frames decode and keep
coming and that the data channel echo comes back. Prints `N passed, N failed`; exit 1 on failure.

Server under test (like tests/browser):
  IANUS_BIN=target/release/ianus  start Ianus with a generated TOML config on free loopback ports
                                  (as root in a namespace of ours with only `lo`; IANUS_NETNS=0: not)
  JANUS_NETNS=1                   start Debian's Janus in a network namespace made here (root);
                                  this process then enters that namespace (setns) for its media
  JANUS_WS_URL=ws://...           use a server that is already running (no start, no stop)
EXPECT_GCM=1: the DTLS-SRTP profile must be an AEAD_AES_*_GCM one.
"""

import asyncio
import ctypes
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from array import array
from collections import deque
from fractions import Fraction

import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame
from websockets.asyncio.client import connect as ws_connect

ECHO_PREFIX = "Janus EchoTest here! You wrote: "
MIN_VIDEO_FRAMES = int(os.environ.get("MIN_VIDEO_FRAMES", "20"))
MIN_AUDIO_FRAMES = int(os.environ.get("MIN_AUDIO_FRAMES", "50"))
MEDIA_DEADLINE_S = float(os.environ.get("MEDIA_DEADLINE_S", "40"))
TOTAL_DEADLINE_S = float(os.environ.get("TOTAL_DEADLINE_S", "150"))
EXPECT_GCM = os.environ.get("EXPECT_GCM") == "1"


def log(msg):
    print(f"[aiortc-echotest] {msg}", flush=True)


# ------------------------------------------------------------------------------------------------
# Keep ICE on the loopback range: aioice skips only 127.0.0.1 and would otherwise offer every
# address of the machine. We offer exactly the 127.0.0.0/8 addresses of our network namespace.


def _loopback_host_addresses(use_ipv4, use_ipv6):
    import ifaddr

    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and ip.ip.startswith("127.") and ip.ip not in found:
                found.append(ip.ip)
    return found or ["127.0.0.1"]


aioice.ice.get_host_addresses = _loopback_host_addresses


# ------------------------------------------------------------------------------------------------
# Synthetic sources

AUDIO_RATE = 48000
AUDIO_PTIME = 0.020


class SineAudioTrack(MediaStreamTrack):
    """440 Hz sine, 48 kHz mono s16, 20 ms frames, paced in real time."""

    kind = "audio"

    def __init__(self):
        super().__init__()
        # 440 whole periods in one second: the buffer loops seamlessly.
        self._second = array("h", (int(8000 * math.sin(2 * math.pi * 440 * i / AUDIO_RATE)) for i in range(AUDIO_RATE)))
        self._samples = int(AUDIO_RATE * AUDIO_PTIME)
        self._pts = 0
        self._start = None

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.time()
        else:
            self._pts += self._samples
            await asyncio.sleep(max(0, self._start + self._pts / AUDIO_RATE - time.time()))
        off = self._pts % AUDIO_RATE
        chunk = self._second[off:off + self._samples]
        frame = AudioFrame(format="s16", layout="mono", samples=self._samples)
        frame.planes[0].update(chunk.tobytes())
        frame.pts = self._pts
        frame.sample_rate = AUDIO_RATE
        frame.time_base = Fraction(1, AUDIO_RATE)
        return frame


class MovingBarVideoTrack(MediaStreamTrack):
    """320x240 yuv420p, a white bar moving over grey, 30 fps, paced in real time."""

    kind = "video"
    W, H, FPS = 320, 240, 30

    def __init__(self):
        super().__init__()
        self._n = 0
        self._start = None

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.time()
        else:
            self._n += 1
            await asyncio.sleep(max(0, self._start + self._n / self.FPS - time.time()))
        frame = VideoFrame(width=self.W, height=self.H, format="yuv420p")
        y, u, v = frame.planes
        bar = (self._n * 4) % self.W
        row = bytearray([80]) * y.line_size
        row[bar:min(bar + 24, self.W)] = b"\xeb" * (min(bar + 24, self.W) - bar)
        y.update(bytes(row) * self.H)
        u.update(b"\x80" * u.buffer_size)
        v.update(b"\x80" * v.buffer_size)
        frame.pts = self._n * (90000 // self.FPS)
        frame.time_base = Fraction(1, 90000)
        return frame


# ------------------------------------------------------------------------------------------------
# A tiny Janus API client over WebSocket


def _tx():
    return "".join(random.choice(string.ascii_letters + string.digits) for _ in range(12))


class JanusWs:
    def __init__(self, url):
        self.url = url
        self.ws = None
        self.pending = {}  # transaction -> future (success/error/ack/server_info replies)
        self.events = {}  # handle id -> asyncio.Queue of janus event messages
        self.session_id = None
        self._tasks = []
        self.log = deque(maxlen=60)

    async def connect(self):
        self.ws = await ws_connect(self.url, subprotocols=["janus-protocol"], open_timeout=10, max_size=None)
        if self.ws.subprotocol != "janus-protocol":
            raise RuntimeError(f"server chose subprotocol {self.ws.subprotocol!r}")
        self._tasks.append(asyncio.create_task(self._reader()))

    async def _reader(self):
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                self.log.append(msg)
                kind = msg.get("janus")
                tx = msg.get("transaction")
                if kind in ("success", "error", "ack", "server_info") and tx in self.pending:
                    fut = self.pending.pop(tx)
                    if not fut.done():
                        fut.set_result(msg)
                    continue
                sender = msg.get("sender")
                if sender is not None:
                    self.events.setdefault(sender, asyncio.Queue()).put_nowait(msg)
        except Exception as e:  # connection closed
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(RuntimeError(f"WebSocket closed: {e!r}"))

    async def request(self, body, timeout=10):
        tx = _tx()
        body = dict(body, transaction=tx)
        if self.session_id is not None and "session_id" not in body and body["janus"] != "create":
            body["session_id"] = self.session_id
        fut = asyncio.get_running_loop().create_future()
        self.pending[tx] = fut
        await self.ws.send(json.dumps(body))
        reply = await asyncio.wait_for(fut, timeout)
        if reply.get("janus") == "error":
            raise RuntimeError(f"{body['janus']} failed: {reply.get('error')}")
        return reply, tx

    async def create(self):
        reply, _ = await self.request({"janus": "create"})
        self.session_id = reply.get("session_id") or reply["data"]["id"]
        self._tasks.append(asyncio.create_task(self._keepalive()))
        return self.session_id

    async def _keepalive(self):
        while True:
            await asyncio.sleep(20)  # janus.js sends one every 25 s
            try:
                await self.ws.send(json.dumps({"janus": "keepalive", "session_id": self.session_id, "transaction": _tx()}))
            except Exception:
                return

    async def attach(self, plugin):
        reply, _ = await self.request({"janus": "attach", "plugin": plugin, "opaque_id": "ianus-aiortc-" + _tx()})
        if reply.get("janus") != "success":
            raise RuntimeError(f"attach: {reply}")
        handle = reply["data"]["id"]
        self.events.setdefault(handle, asyncio.Queue())
        return handle

    async def message(self, handle, body, jsep=None):
        req = {"janus": "message", "handle_id": handle, "body": body}
        if jsep is not None:
            req["jsep"] = jsep
        return await self.request(req)

    async def next_event(self, handle, pred, timeout):
        """The next message for `handle` satisfying pred (others are kept in `seen`)."""
        q = self.events.setdefault(handle, asyncio.Queue())
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError("no matching event")
            msg = await asyncio.wait_for(q.get(), left)
            if pred(msg):
                return msg

    async def close(self):
        try:
            if self.session_id is not None:
                await asyncio.wait_for(self.request({"janus": "destroy"}), 3)
        except Exception:
            pass
        for t in self._tasks:
            t.cancel()
        if self.ws is not None:
            await self.ws.close()


# ------------------------------------------------------------------------------------------------
# Servers under test

CLONE_NEWNET = 0x40000000


class Proc:
    def __init__(self, name, argv, cwd, logfile):
        self.name = name
        self.logfile = logfile
        self._f = open(logfile, "wb")
        # setpriv --pdeathsig: the server dies with us even if we are SIGKILLed.
        self.p = subprocess.Popen(["setpriv", "--pdeathsig", "KILL", "--", *argv], cwd=cwd,
                                  stdout=self._f, stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self):
        return self.p.poll() is None

    def tail(self, n=60):
        try:
            with open(self.logfile, "rb") as f:
                return "\n".join(f.read().decode("utf8", "replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.p.wait(5)
        self._f.close()


def free_ports(tcp, udp):
    socks, out_t, out_u = [], [], []
    try:
        for _ in range(tcp):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            out_t.append(s.getsockname()[1])
        for _ in range(udp):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            out_u.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return out_t, out_u


def http_info_ok(url):
    req = urllib.request.Request(url, data=json.dumps({"janus": "info", "transaction": "probe"}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=2) as r:
        return json.loads(r.read()).get("janus") == "server_info"


async def wait_ready(http_url, ws_url, alive, timeout=30):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"server exited before it was ready ({last})")
        try:
            if await asyncio.to_thread(http_info_ok, http_url):
                c = JanusWs(ws_url)
                await c.connect()
                try:
                    await c.create()
                finally:
                    await c.close()
                return
        except Exception as e:
            last = repr(e)
        await asyncio.sleep(0.2)  # poll interval
    raise RuntimeError(f"server not ready after {timeout}s: {last}")


class Target:
    """Starts/stops the server under test; .ws_url, .http_url, .tail()."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="ianus-aiortc-")
        self.proc = None
        self.ns = None
        self.ws_url = self.http_url = None
        self.mode = None

    async def start(self):
        if os.environ.get("JANUS_WS_URL"):
            self.mode = "external"
            self.ws_url = os.environ["JANUS_WS_URL"]
            return
        if os.environ.get("IANUS_BIN"):
            await self._start_ianus(os.path.abspath(os.environ["IANUS_BIN"]))
        elif os.environ.get("JANUS_NETNS") == "1":
            await self._start_janus_netns()
        else:
            raise RuntimeError("set IANUS_BIN=path/to/ianus, or JANUS_NETNS=1 (Debian Janus in a netns), or JANUS_WS_URL")

    def _enter_new_netns(self, veth):
        """Makes a namespace (lo up; with veth: jv0 carrying 127.0.0.2/32) and moves this process
        into it (setns), so that the server we spawn next and all our sockets live there."""
        # Namespaces left by earlier runs of these harnesses that were SIGKILLed.
        listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        for line in listing.splitlines():
            m = re.match(r"(ianus-(?:br|brj|ai)-(\d+))\b", line.strip())
            if m:
                try:
                    os.kill(int(m.group(2)), 0)
                except ProcessLookupError:
                    subprocess.run(["ip", "netns", "del", m.group(1)], capture_output=True)
                except PermissionError:
                    pass
        self.ns = f"ianus-ai-{os.getpid()}"

        def ip(*a):
            subprocess.run(["ip", *a], check=True, capture_output=True)

        ip("netns", "add", self.ns)
        ip("-n", self.ns, "link", "set", "lo", "up")
        if veth:
            ip("-n", self.ns, "link", "add", "jv0", "type", "veth", "peer", "name", "jv1")
            ip("-n", self.ns, "addr", "add", "127.0.0.2/32", "dev", "jv0")
            ip("-n", self.ns, "link", "set", "jv0", "up")
            ip("-n", self.ns, "link", "set", "jv1", "up")
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/run/netns/{self.ns}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns failed")
        finally:
            os.close(fd)

    async def _start_ianus(self, binary):
        if not os.path.exists(binary):
            raise RuntimeError(f"IANUS_BIN={binary} does not exist (cargo build --release first)")
        self.mode = "ianus"
        # As root: in a namespace of ours with only `lo` (IANUS_NETNS=0: here).
        if os.environ.get("IANUS_NETNS") != "0" and os.geteuid() == 0 and shutil.which("ip"):
            self._enter_new_netns(veth=False)
        (http_port, ws_port, admin_http, admin_ws), (media_port,) = free_ports(4, 1)
        cfg = os.path.join(self.tmp, "ianus.toml")
        with open(cfg, "w") as f:
            f.write("# generated by tests/aiortc/echotest_client.py\n"
                    f"[http]\nport = {http_port}\n\n[websockets]\nport = {ws_port}\n\n"
                    f"[admin]\nhttp_port = {admin_http}\nws_port = {admin_ws}\n\n"
                    f"[media]\nip = \"127.0.0.1\"\nport = {media_port}\n")
        self.http_url = f"http://127.0.0.1:{http_port}/janus"
        self.ws_url = f"ws://127.0.0.1:{ws_port}"
        self.proc = Proc("ianus", [binary, "--config", cfg], self.tmp, os.path.join(self.tmp, "server.log"))
        await wait_ready(self.http_url, self.ws_url, self.proc.alive)

    async def _start_janus_netns(self):
        if os.geteuid() != 0:
            raise RuntimeError("JANUS_NETNS=1 needs root (ip netns)")
        if not os.path.exists("/usr/bin/janus"):
            raise RuntimeError("/usr/bin/janus missing: apt-get install -y janus")
        self.mode = "janus"
        self._enter_new_netns(veth=True)

        conf = os.path.join(self.tmp, "janus-conf")
        os.mkdir(conf)
        for name in os.listdir("/etc/janus"):
            if name.endswith(".jcfg"):
                shutil.copy(os.path.join("/etc/janus", name), conf)
        path = os.path.join(conf, "janus.jcfg")
        text = open(path).read()

        edits = [
            (r'(?m)^(\s*)configs_folder\s*=.*$', rf'\1configs_folder = "{conf}"'),
            (r'(?m)^(\s*)#?\s*ignore_mdns\s*=.*$', r'\1ignore_mdns = true'),
            (r'(?m)^(\s*)#?\s*ice_enforce_list\s*=\s*"eth0"\s*$', r'\1ice_enforce_list = "jv0"'),
            (r'(?m)^(\s*)#?\s*disable\s*=\s*"libjanus_voicemail\.so,libjanus_recordplay\.so"\s*$',
             r'\1disable = "libjanus_lua.so,libjanus_duktape.so"'),
            (r'(?m)^(\s*)#?\s*disable\s*=\s*"libjanus_rabbitmq\.so"\s*$',
             r'\1disable = "libjanus_rabbitmq.so,libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so"'),
        ]
        for pat, rep in edits:
            text, n = re.subn(pat, rep, text, count=1)
            if n != 1:
                raise RuntimeError(f"janus.jcfg: could not apply {pat}")
        open(path, "w").write(text)
        self.http_url = "http://127.0.0.1:8088/janus"
        self.ws_url = "ws://127.0.0.1:8188"
        self.proc = Proc("janus", ["/usr/bin/janus", "-F", conf, "-C", path, "-o", "-i", "127.0.0.2"],
                         self.tmp, os.path.join(self.tmp, "server.log"))
        await wait_ready(self.http_url, self.ws_url, self.proc.alive)

    def tail(self, n=60):
        return self.proc.tail(n) if self.proc else "(server not started here)"

    def stop(self):
        if self.proc:
            self.proc.stop()
            self.proc = None
        if self.ns:
            subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
            self.ns = None
        if not os.environ.get("KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------------------
# The test


class Checks:
    def __init__(self):
        self.results = []

    def check(self, name, ok, detail=""):
        self.results.append((name, bool(ok), detail))
        log(f"{'PASS' if ok else 'FAIL'} {name}{(': ' + detail) if detail else ''}")
        return ok

    def summary(self):
        passed = sum(1 for _, ok, _ in self.results if ok)
        return passed, len(self.results) - passed


async def count_frames(track, counter, key):
    try:
        while True:
            await track.recv()
            counter[key] += 1
    except (MediaStreamError, asyncio.CancelledError):
        pass


async def wait_until(pred, timeout, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        await asyncio.sleep(interval)  # poll interval
    return pred()


def srtp_profile(pc):
    """The negotiated DTLS-SRTP profile (aiortc internals; None when unknown)."""
    try:
        for t in pc.getTransceivers():
            dtls = t.sender.transport
            if dtls is not None and getattr(dtls, "_ssl", None) is not None:
                p = dtls._ssl.get_selected_srtp_profile()
                if p:
                    return p.decode() if isinstance(p, bytes) else str(p)
    except Exception as e:
        return f"unknown ({e!r})"
    return None


async def echotest(target, checks):
    janus = JanusWs(target.ws_url)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    tasks = []
    counters = {"audio": 0, "video": 0}
    try:
        await janus.connect()
        sid = await janus.create()
        handle = await janus.attach("janus.plugin.echotest")
        checks.check("session created and janus.plugin.echotest attached", True, f"session {sid}, handle {handle}")

        body = {"audio": True, "video": True}
        reply, tx = await janus.message(handle, body)
        if reply.get("janus") == "ack":
            ev = await janus.next_event(handle, lambda m: m.get("transaction") == tx, 10)
            data = ev.get("plugindata", {}).get("data", {})
        else:
            data = reply.get("plugindata", {}).get("data", {})
        checks.check('body-only request answered {"echotest":"event","result":"ok"}',
                     data.get("echotest") == "event" and data.get("result") == "ok", json.dumps(data))

        pc.addTrack(SineAudioTrack())
        pc.addTrack(MovingBarVideoTrack())
        channel = pc.createDataChannel("JanusDataChannel")
        received = []
        opened = asyncio.Event()
        channel.on("open", opened.set)
        channel.on("message", lambda m: received.append(m))

        @pc.on("track")
        def on_track(track):
            tasks.append(asyncio.create_task(count_frames(track, counters, track.kind)))

        await pc.setLocalDescription(await pc.createOffer())  # aiortc gathers before returning
        offer = pc.localDescription
        # Not trickling: all our candidates are in the SDP (Janus API `trickle: false`).
        reply, tx = await janus.message(handle, body, {"type": offer.type, "sdp": offer.sdp, "trickle": False})
        ev = await janus.next_event(handle, lambda m: m.get("janus") == "event" and m.get("jsep"), 15)
        data = ev.get("plugindata", {}).get("data", {})
        jsep = ev["jsep"]
        checks.check("offer answered with a jsep answer and result ok",
                     jsep.get("type") == "answer" and data.get("result") == "ok", json.dumps(data))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type=jsep["type"]))

        ok = await wait_until(lambda: pc.connectionState == "connected", 20)
        checks.check("ICE + DTLS connected", ok, f"connectionState={pc.connectionState}")
        if not ok:
            return
        prof = srtp_profile(pc)
        if EXPECT_GCM:
            checks.check("SRTP profile is AEAD AES-GCM (EXPECT_GCM=1)", prof is not None and "GCM" in prof, str(prof))
        else:
            log(f"SRTP profile: {prof}")

        ok = await wait_until(lambda: counters["video"] >= MIN_VIDEO_FRAMES and counters["audio"] >= MIN_AUDIO_FRAMES,
                              MEDIA_DEADLINE_S)
        checks.check(f"echoed video frames decoded (>= {MIN_VIDEO_FRAMES})", counters["video"] >= MIN_VIDEO_FRAMES,
                     f"{counters['video']} video frames")
        checks.check(f"echoed audio frames decoded (>= {MIN_AUDIO_FRAMES})", counters["audio"] >= MIN_AUDIO_FRAMES,
                     f"{counters['audio']} audio frames")
        if ok:
            before = dict(counters)
            more = await wait_until(lambda: counters["video"] > before["video"] and counters["audio"] > before["audio"], 15)
            checks.check("echoed frames keep coming", more, f"{before} -> {counters}")

        ok = await wait_until(opened.is_set, 20)
        if checks.check("data channel open", ok, f"readyState={channel.readyState}"):
            text = f"hello from aiortc {time.time():.3f}"
            channel.send(text)
            ok = await wait_until(lambda: ECHO_PREFIX + text in received, 15)
            checks.check("data channel echo", ok, f"received {received!r}")

        # Hang up: the plugin reports result "done".
        await janus.request({"janus": "hangup", "handle_id": handle})
        try:
            await janus.next_event(handle, lambda m: m.get("janus") == "event"
                                   and m.get("plugindata", {}).get("data", {}).get("result") == "done", 10)
            checks.check('hangup answered with {"result":"done"}', True)
        except asyncio.TimeoutError:
            checks.check('hangup answered with {"result":"done"}', False, "no such event within 10 s")
    finally:
        for t in tasks:
            t.cancel()
        await pc.close()
        await janus.close()
        if any(not ok for _, ok, _ in checks.results):
            log("last Janus API messages received:")
            for m in list(janus.log)[-15:]:
                print("   ", json.dumps(m)[:400], flush=True)


async def main():
    checks = Checks()
    target = Target()
    try:
        await target.start()
        log(f"server under test: {target.mode} ({target.ws_url})")
        await asyncio.wait_for(echotest(target, checks), TOTAL_DEADLINE_S)
    except Exception as e:
        checks.check("echotest completed", False, f"{type(e).__name__}: {e}")
    finally:
        passed, failed = checks.summary()
        if failed:
            log(f"--- {target.mode or 'server'} log (tail) ---")
            print(target.tail(60), flush=True)
        await asyncio.to_thread(target.stop)
    return passed, failed


if __name__ == "__main__":
    # A hard wall-clock bound on everything, even a hang in cleanup.
    watchdog = threading.Timer(TOTAL_DEADLINE_S + 60, lambda: os._exit(2))
    watchdog.daemon = True
    watchdog.start()
    def _interrupt(*_):
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    try:
        passed, failed = asyncio.run(main())
    except KeyboardInterrupt:
        passed, failed = 0, 1
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(0 if failed == 0 and passed > 0 else 1)
