// Assertions on what really flows, from the browser's own getStats(). Everything waits on a
// condition with a deadline (polling), never on a fixed sleep.

import assert from 'node:assert/strict';

export const EXPECT_GCM = process.env.EXPECT_GCM === '1';
export const ECHO_PREFIX = 'Janus EchoTest here! You wrote: ';

/** Thrown from a waitFor check: stop waiting at once (the page reported an error). */
export class FatalError extends Error {}

/**
 * Polls `check` (async () => [ok, observed]) every `intervalMs` until ok or the deadline.
 * Returns the observed value; throws with the last observation on timeout.
 */
export async function waitFor(what, check, { timeoutMs = 30000, intervalMs = 250 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  let lastErr;
  for (;;) {
    try {
      const [ok, observed] = await check();
      last = observed;
      if (ok) return observed;
    } catch (e) {
      if (e instanceof FatalError) throw e;
      lastErr = e;
    }
    if (Date.now() >= deadline) {
      const seen = last === undefined ? '' : `; last seen: ${JSON.stringify(last)}`;
      const err = lastErr ? `; last error: ${lastErr.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${seen}${err}`);
    }
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, Math.max(0, deadline - Date.now()))));
  }
}

/** A summary of pc.getStats() plus the <video> size; pcPath is a dotted path from window. */
export function pcStats(page, pcPath, videoSelector) {
  return page.evaluate(async ({ pcPath: p, videoSelector: sel }) => {
    const pc = p.split('.').reduce((o, k) => (o == null ? undefined : o[k]), window);
    const v = document.querySelector(sel);
    const out = {
      pc: !!pc,
      videoWidth: v ? v.videoWidth : -1,
      videoHeight: v ? v.videoHeight : -1,
    };
    if (!pc) return out;
    Object.assign(out, {
      iceConnectionState: pc.iceConnectionState,
      connectionState: pc.connectionState,
      video: { n: 0, framesDecoded: 0, bytesReceived: 0, packetsReceived: 0, frameWidth: 0 },
      audio: { n: 0, bytesReceived: 0, packetsReceived: 0, totalAudioEnergy: 0 },
      sent: { audio: 0, video: 0 },
      data: { messagesSent: 0, messagesReceived: 0 },
      transport: null,
      pair: null,
      codecs: [],
    });
    const stats = await pc.getStats();
    const byId = new Map();
    stats.forEach((s) => byId.set(s.id, s));
    stats.forEach((s) => {
      const kind = s.kind || s.mediaType;
      if (s.type === 'inbound-rtp' && kind === 'video') {
        out.video.n++;
        out.video.framesDecoded += s.framesDecoded || 0;
        out.video.bytesReceived += s.bytesReceived || 0;
        out.video.packetsReceived += s.packetsReceived || 0;
        out.video.frameWidth = Math.max(out.video.frameWidth, s.frameWidth || 0);
      } else if (s.type === 'inbound-rtp' && kind === 'audio') {
        out.audio.n++;
        out.audio.bytesReceived += s.bytesReceived || 0;
        out.audio.packetsReceived += s.packetsReceived || 0;
        out.audio.totalAudioEnergy += s.totalAudioEnergy || 0;
      } else if (s.type === 'outbound-rtp' && (kind === 'audio' || kind === 'video')) {
        out.sent[kind] += s.bytesSent || 0;
      } else if (s.type === 'data-channel') {
        out.data.messagesSent += s.messagesSent || 0;
        out.data.messagesReceived += s.messagesReceived || 0;
      } else if (s.type === 'codec') {
        out.codecs.push(s.mimeType);
      } else if (s.type === 'transport') {
        const t = {
          dtlsState: s.dtlsState, srtpCipher: s.srtpCipher, tlsVersion: s.tlsVersion,
          dtlsCipher: s.dtlsCipher, iceState: s.iceState, dtlsRole: s.dtlsRole,
        };
        const pair = byId.get(s.selectedCandidatePairId);
        // Prefer the transport that is actually in use (bundle: there should be only one).
        if (!out.transport || pair) out.transport = t;
        if (pair) {
          const l = byId.get(pair.localCandidateId);
          const r = byId.get(pair.remoteCandidateId);
          out.pair = {
            state: pair.state,
            local: l ? `${l.address}:${l.port}/${l.protocol} ${l.candidateType}` : null,
            remote: r ? `${r.address}:${r.port}/${r.protocol} ${r.candidateType}` : null,
          };
        }
      }
    });
    return out;
  }, { pcPath, videoSelector });
}

/**
 * The echoed media really flows: video frames are decoded and keep coming, the <video> has a
 * size, audio bytes keep coming, DTLS is up, SRTP cipher as expected.
 */
export async function assertEchoMedia(page, { pcPath, videoSelector, timeoutMs = 40000, log = () => {} }) {
  const first = await waitFor('echoed video decoded (framesDecoded > 0, videoWidth > 0) and echoed audio (bytesReceived > 0)',
    async () => {
      const s = await pcStats(page, pcPath, videoSelector);
      return [s.pc && s.video.framesDecoded > 0 && s.videoWidth > 0 && s.audio.bytesReceived > 0, s];
    }, { timeoutMs, intervalMs: 500 });
  log(`first sample: ${JSON.stringify(first)}`);
  const second = await waitFor('echoed video framesDecoded and audio bytesReceived to keep growing',
    async () => {
      const s = await pcStats(page, pcPath, videoSelector);
      return [s.video.framesDecoded > first.video.framesDecoded && s.audio.bytesReceived > first.audio.bytesReceived, s];
    }, { timeoutMs: 20000, intervalMs: 500 });
  log(`second sample: ${JSON.stringify(second)}`);

  assert.ok(second.videoWidth > 0, 'remote <video>.videoWidth > 0');
  assert.ok(second.transport, 'a transport in getStats');
  assert.equal(second.transport.dtlsState, 'connected', 'DTLS connected');
  assert.ok(second.transport.srtpCipher, `an SRTP cipher was negotiated (got ${second.transport.srtpCipher})`);
  if (EXPECT_GCM) {
    // Chromium 156 reports the OpenSSL profile name (SRTP_AEAD_AES_128_GCM); the spec's
    // RFC 7714 name is AEAD_AES_128_GCM. Accept either spelling.
    const cipher = String(second.transport.srtpCipher).replace(/^SRTP_/, '');
    assert.equal(cipher, 'AEAD_AES_128_GCM', `SRTP cipher (EXPECT_GCM=1), getStats said ${second.transport.srtpCipher}`);
  }
  return { first, second };
}
