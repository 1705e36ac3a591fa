// AudioBridge with our own page (page/audiobridge.html, newest janus.js from npm): three
// Chromium participants join room 1234, each sending its own sine tone (WebAudio oscillator)
// rather than the fake microphone's beep, so that every voice can be told apart in a mix.
//
// What is proved, from each browser's point of view:
// - each page lists the other two (joined / event notifications);
// - each page receives the mix: bytesReceived and totalAudioEnergy grow;
// - each page hears exactly the others: both other tones stand out of its received spectrum,
//   its own does not (the mix minus own contribution);
// - after the moderator `mute` of one participant, its tone leaves the others' mix while the
//   other voice stays; the muted one still hears both others; `unmute` brings it back;
// - `leave` of one gives the others a `leaving` event and drops it from their lists.
// Server under test: IANUS_BIN=… or JANUS_NETNS=1 (see lib/harness.js).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEnvironment } from './lib/harness.js';
import { pcStats, waitFor, FatalError, EXPECT_GCM } from './lib/media.js';
import { withDiagnostics } from './lib/diag.js';

const ROOM = 1234;
const SECRET = 'adminpwd'; // room 1234's secret in Janus's sample config
/**
 * One tone per page, inside the 16 kHz room's 8 kHz band, apart from each other's harmonics
 * and from the sums and differences of the other two.
 */
const TONES = [520, 1330, 2870];
/** Page 1 talks HTTP long-poll, the others WebSocket: both transports carry the same room. */
const TRANSPORTS = ['ws', 'http', 'ws'];
/**
 * A tone is "heard" when it stands this far (dB) above the median of the 100..7000 Hz band of
 * the received spectrum, "absent" when below ABSENT_DB. A sine through Opus stands tens of dB
 * above the codec's noise; a voice removed from the mix leaves no line at its frequency.
 */
const PRESENT_DB = 40;
const ABSENT_DB = 20;
const PC = 'audiobridge.webrtcStuff.pc';

let env;
before(async () => { env = await startEnvironment(); }, { timeout: 90_000 });
after(async () => { await env?.stop(); }, { timeout: 30_000 });

/** The page's window.ab; any error the page recorded ends the test at once. */
async function state(page) {
  const s = await page.evaluate(() => window.ab);
  if (s?.errors?.length) throw new FatalError(`page errors: ${s.errors.join('; ')}`);
  return s;
}

const levels = (page) => page.evaluate((f) => window.abLevels(f), TONES);
const request = (page, message) => page.evaluate((m) => window.abRequest(m), message);

/**
 * Waits until page `i` hears exactly the tones of `present` and none of `absent` (indices into
 * TONES), over a full averaging window.
 */
async function waitHears(pages, i, present, absent, what, timeoutMs = 20_000) {
  return waitFor(`page ${i} ${what} (hears tones ${present.map((k) => TONES[k])} Hz, not ${absent.map((k) => TONES[k])} Hz)`, async () => {
    const l = await levels(pages[i]);
    if (l.n < 10) return [false, l];
    const ok = present.every((k) => l.levels[TONES[k]].snr >= PRESENT_DB)
      && absent.every((k) => l.levels[TONES[k]].snr < ABSENT_DB);
    return [ok, l];
  }, { timeoutMs, intervalMs: 500 });
}

const others = (i) => [0, 1, 2].filter((k) => k !== i);

test(`our janus.js page: three participants in room ${ROOM} hear each other's tones, mute removes one, leave is announced`, { timeout: 300_000 }, async (t) => {
  const started = Date.now();
  const phase = (what) => t.diagnostic(`+${((Date.now() - started) / 1000).toFixed(1)} s: ${what}`);
  const pages = [];
  for (let i = 0; i < TONES.length; i++) pages.push(await env.newPage(t));
  const diagExpr = '({ab: window.ab && Object.assign({}, window.ab, {events: window.ab.events.slice(-15)}), ' +
    `levels: window.abLevels && window.abLevels(${JSON.stringify(TONES)})})`;
  await withDiagnostics(t, env, pages[2], async () => {
    // Join one after the other, each with its own tone.
    for (let i = 0; i < pages.length; i++) {
      const server = env.serverUrl(TRANSPORTS[i]);
      const url = `${env.staticBase}/page/audiobridge.html?server=${encodeURIComponent(server)}` +
        `&room=${ROOM}&display=voice${i}&tone=${TONES[i]}`;
      await pages[i].goto(url, { timeout: 15_000 });
      await waitFor(`page ${i} (${TRANSPORTS[i]}): joined, answer applied, PeerConnection connected`, async () => {
        const s = await state(pages[i]);
        const st = await pcStats(pages[i], PC, '#none');
        return [s?.myId != null && s.configured && s.answerApplied && st.connectionState === 'connected',
          { myId: s?.myId, configured: s?.configured, answerApplied: s?.answerApplied, pc: st.connectionState }];
      }, { timeoutMs: 40_000, intervalMs: 500 });
      phase(`page ${i} joined and connected`);
    }
    const ids = [];
    for (const page of pages) ids.push((await state(page)).myId);
    t.diagnostic(`participant ids: ${ids.join(', ')}`);
    assert.equal(new Set(ids).size, 3, `three distinct ids: ${ids}`);

    // Each lists the other two, by id and display name, with media set up.
    for (let i = 0; i < pages.length; i++) {
      await waitFor(`page ${i} lists the other two with setup=true`, async () => {
        const s = await state(pages[i]);
        const got = Object.values(s.participants).map((p) => `${p.id}:${p.display}:${p.setup}`).sort();
        const want = others(i).map((k) => `${ids[k]}:voice${k}:true`).sort();
        return [JSON.stringify(got) === JSON.stringify(want), { got, want }];
      }, { timeoutMs: 20_000, intervalMs: 500 });
    }

    phase('participant lists complete');

    // Each receives the mix: bytes and energy grow.
    for (let i = 0; i < pages.length; i++) {
      const first = await waitFor(`page ${i}: receiving audio with energy`, async () => {
        const st = await pcStats(pages[i], PC, '#none');
        return [st.audio.packetsReceived > 50 && st.audio.totalAudioEnergy > 0 && st.sent.audio > 0, st];
      }, { timeoutMs: 40_000, intervalMs: 500 });
      const second = await waitFor(`page ${i}: bytesReceived and totalAudioEnergy keep growing`, async () => {
        const st = await pcStats(pages[i], PC, '#none');
        return [st.audio.bytesReceived > first.audio.bytesReceived
          && st.audio.totalAudioEnergy > first.audio.totalAudioEnergy, st];
      }, { timeoutMs: 20_000, intervalMs: 500 });
      t.diagnostic(`page ${i}: audio ${JSON.stringify(second.audio)}, cipher ${second.transport?.srtpCipher}`);
      assert.equal(second.transport?.dtlsState, 'connected');
      if (EXPECT_GCM) {
        assert.equal(String(second.transport.srtpCipher).replace(/^SRTP_/, ''), 'AEAD_AES_128_GCM',
          `SRTP cipher (EXPECT_GCM=1), getStats said ${second.transport.srtpCipher}`);
      }
    }

    phase('every page receives growing audio');

    // Each hears exactly the other two (the mix minus its own voice).
    for (let i = 0; i < pages.length; i++) {
      const l = await waitHears(pages, i, others(i), [i], 'hears the mix of the others', 30_000);
      t.diagnostic(`page ${i} unmuted spectrum: ${JSON.stringify(l)}`);
    }

    phase('every page hears exactly the other two tones');

    // The moderator mutes page 0 (request from page 2's handle, with the room secret).
    let reply = await request(pages[2], { request: 'mute', room: ROOM, secret: SECRET, id: ids[0] });
    assert.equal(reply?.audiobridge, 'success', JSON.stringify(reply));
    for (const i of [1, 2]) {
      const l = await waitHears(pages, i, others(i).filter((k) => k !== 0), [0, i], 'no longer hears the muted page 0');
      t.diagnostic(`page ${i} with page 0 muted: ${JSON.stringify(l)}`);
    }
    // The muted one still hears both others.
    await waitHears(pages, 0, [1, 2], [0], 'muted, still hears both others');
    // And everybody is told.
    for (const i of [1, 2]) {
      await waitFor(`page ${i} lists page 0 as muted`, async () => {
        const s = await state(pages[i]);
        return [s.participants[ids[0]]?.muted === true, s.participants];
      }, { timeoutMs: 10_000, intervalMs: 250 });
    }

    phase('mute checked');

    // Unmute: page 0's tone is back in the others' mix.
    reply = await request(pages[2], { request: 'unmute', room: ROOM, secret: SECRET, id: ids[0] });
    assert.equal(reply?.audiobridge, 'success', JSON.stringify(reply));
    for (const i of [1, 2]) {
      await waitHears(pages, i, others(i), [i], 'hears page 0 again after unmute');
    }

    phase('unmute checked');

    // Page 2 leaves: it gets `left`; the others get `leaving` with its id and drop it.
    reply = await request(pages[2], { request: 'leave' });
    assert.ok(!reply?.error, `leave: ${JSON.stringify(reply)}`);
    await waitFor('page 2 gets "left"', async () => {
      const s = await state(pages[2]);
      return [s.left, { left: s.left, last: s.events.slice(-3) }];
    }, { timeoutMs: 10_000, intervalMs: 250 });
    for (const i of [0, 1]) {
      await waitFor(`page ${i} gets "leaving" for page 2 and lists only the other one`, async () => {
        const s = await state(pages[i]);
        const listed = Object.keys(s.participants).map(Number);
        const other = i === 0 ? 1 : 0;
        return [s.leaving.includes(ids[2]) && listed.length === 1 && listed[0] === ids[other],
          { leaving: s.leaving, listed }];
      }, { timeoutMs: 10_000, intervalMs: 250 });
    }
    // The two left in the room hear only each other.
    await waitHears(pages, 0, [1], [0, 2], 'hears only page 1 after page 2 left');
    await waitHears(pages, 1, [0], [1, 2], 'hears only page 0 after page 2 left');

    phase('leave checked');

    for (let i = 0; i < pages.length; i++) {
      assert.deepEqual((await state(pages[i])).errors, [], `no errors on page ${i}`);
    }
  }, { resultsExpr: diagExpr });
});
