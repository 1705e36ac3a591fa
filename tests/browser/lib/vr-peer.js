// A VideoRoom participant driven with janus.js inside a page that loaded it (any Debian demo
// page, not started): state in window.vr[name], so a test can poll it with page.evaluate.
//
//   publisher:  join `room` as a publisher and publish `tracks` (janus.js track list);
//   subscriber: join `room` as a subscriber of `feed` and answer with receive-only media;
//   none:       only attach (for room management requests).
//
// Every plugin message is kept (events), errors are collected (errors), and the handle is at
// window.vr[name].h for further requests (configure, …).

/** Starts the participant in `page`; resolves once the session and handle exist. */
export function startPeer(page, name, spec) {
  return page.evaluate(({ name: n, spec: s }) => new Promise((resolve) => {
    const st = { events: [], errors: [], up: false, id: null, joined: false };
    window.vr = window.vr || {};
    window.vr[n] = st;
    const fail = (what) => (e) => { st.errors.push(`${what}: ${e && e.message ? e.message : e}`); resolve(false); };
    const janus = new Janus({
      server: window.server, iceServers: [],
      error: fail('session'),
      success: () => janus.attach({
        plugin: 'janus.plugin.videoroom',
        error: fail('attach'),
        success: (h) => {
          st.h = h;
          st.janus = janus;
          if (s.role === 'none') { resolve(true); return; }
          const join = s.role === 'publisher'
            ? { request: 'join', room: s.room, ptype: 'publisher', display: s.display || n }
            : { request: 'join', room: s.room, ptype: 'subscriber', streams: [{ feed: s.feed }] };
          h.send({ message: join });
          resolve(true);
        },
        onmessage: (msg, jsep) => {
          st.events.push({ at: Date.now(), msg });
          if (msg.error) st.errors.push(`plugin: ${msg.error_code} ${msg.error}`);
          const h = st.h;
          if (s.role === 'publisher' && msg.videoroom === 'joined') {
            st.id = msg.id;
            st.joined = true;
            h.createOffer({
              tracks: s.tracks,
              success: (j) => h.send({ message: { request: 'configure', audio: true, video: true }, jsep: j }),
              error: (e) => st.errors.push(`offer: ${e && e.message ? e.message : e}`),
            });
          } else if (s.role === 'publisher' && jsep) {
            h.handleRemoteJsep({ jsep });
          } else if (s.role === 'subscriber' && jsep) {
            h.createAnswer({
              jsep, tracks: [{ type: 'data' }],
              success: (j) => h.send({ message: { request: 'start', room: s.room }, jsep: j }),
              error: (e) => st.errors.push(`answer: ${e && e.message ? e.message : e}`),
            });
          }
        },
        webrtcState: (on) => { st.up = on; },
      }),
    });
  }), { name, spec });
}

/** Sends a plugin request on window.vr[name].h and resolves with the synchronous reply. */
export function request(page, name, message) {
  return page.evaluate(({ name: n, message: m }) => new Promise((resolve) => {
    window.vr[n].h.send({ message: m, success: resolve, error: (e) => resolve({ error: String(e) }) });
  }), { name, message });
}

/** Creates a room through window.vr[name].h; resolves with its number. */
export async function createRoom(page, name, options) {
  const reply = await request(page, name, { request: 'create', ...options });
  if (reply.videoroom !== 'created') throw new Error(`create failed: ${JSON.stringify(reply)}`);
  return reply.room;
}

/**
 * A summary of the participant: state, errors, plugin events, and from its PeerConnection's
 * getStats() the video it receives (inbound-rtp) and sends (outbound-rtp, one per simulcast
 * encoding).
 */
export function peerState(page, name) {
  return page.evaluate(async (n) => {
    const st = window.vr && window.vr[n];
    if (!st) return null;
    const pc = st.h && st.h.webrtcStuff && st.h.webrtcStuff.pc;
    const out = { id: st.id, up: st.up, errors: st.errors.slice(), events: st.events.map((e) => e.msg),
      pc: pc ? pc.connectionState : null, inVideo: null, outVideo: [], transceivers: [] };
    if (pc) {
      out.transceivers = pc.getTransceivers().map((x) => ({ mid: x.mid, dir: x.currentDirection,
        track: x.receiver.track ? x.receiver.track.readyState + (x.receiver.track.muted ? '/muted' : '') : null }));
      const stats = await pc.getStats();
      const codecOf = (r) => (r.codecId && stats.get(r.codecId) ? stats.get(r.codecId).mimeType : null);
      stats.forEach((r) => {
        // The browser's send-side bandwidth estimate (capped by the server's REMB).
        if (r.type === 'candidate-pair' && r.nominated && r.availableOutgoingBitrate !== undefined) {
          out.availableOutgoingBitrate = r.availableOutgoingBitrate;
        }
        if (r.kind !== 'video') return;
        if (r.type === 'inbound-rtp') {
          out.inVideo = { framesDecoded: r.framesDecoded || 0, frameWidth: r.frameWidth || 0,
            frameHeight: r.frameHeight || 0, nackCount: r.nackCount || 0, pliCount: r.pliCount || 0,
            packetsReceived: r.packetsReceived || 0, packetsLost: r.packetsLost || 0,
            retransmittedPacketsReceived: r.retransmittedPacketsReceived || 0,
            keyFramesDecoded: r.keyFramesDecoded || 0, framesPerSecond: r.framesPerSecond || 0,
            codec: codecOf(r), decoder: r.decoderImplementation || null };
        } else if (r.type === 'outbound-rtp') {
          out.outVideo.push({ rid: r.rid || null, frameWidth: r.frameWidth || 0, framesEncoded: r.framesEncoded || 0,
            targetBitrate: r.targetBitrate || 0,
            active: r.active, limit: r.qualityLimitationReason, retransmitted: r.retransmittedPacketsSent || 0,
            nackCount: r.nackCount || 0, codec: codecOf(r), scalabilityMode: r.scalabilityMode || null,
            encoder: r.encoderImplementation || null });
        }
      });
      out.outVideo.sort((a, b) => String(a.rid).localeCompare(String(b.rid)));
    }
    return out;
  }, name);
}

/** Loads a Debian demo page (to get janus.js and settings.js) without starting it. */
export async function loadJanusPage(page, staticBase, waitFor, demo = 'videoroomtest.html') {
  await page.goto(`${staticBase}/demos-ws/${demo}`, { timeout: 15_000 });
  await waitFor('janus.js initialised', async () => {
    const ok = await page.evaluate(() => !!(window.Janus && window.Janus.initDone));
    return [ok, ok];
  }, { timeoutMs: 15_000 });
}
