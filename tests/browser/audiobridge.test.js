// AudioBridge with Debian's own demo page (janus-demos 1.1.2, unchanged except settings.js):
// three Chromium pages join room 1234 through audiobridgetest.html and send the fake
// microphone (a periodic beep). Each must receive the mix: bytesReceived and
// totalAudioEnergy keep growing.
//
// Muting is checked where it can be heard: with every page beeping, one muted voice hides in
// the others. So two of the three are muted with the moderator `mute` request; the third then
// hears the mix of nobody (its own voice is never in its mix): its received energy must stop
// growing, while the muted ones still hear the third. Unmuting one makes the third's energy
// grow again.
// Server under test: IANUS_BIN=… or JANUS_NETNS=1 (see lib/harness.js).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEnvironment } from './lib/harness.js';
import { waitFor, FatalError } from './lib/media.js';
import { withDiagnostics } from './lib/diag.js';

const PAGES = 3;
const ROOM = 1234;
const SECRET = 'adminpwd'; // room 1234's secret in Janus's sample config

let env;
before(async () => { env = await startEnvironment(); }, { timeout: 90_000 });
after(async () => { await env?.stop(); }, { timeout: 30_000 });

/** The demo's state: our id, the PC, what we receive, the participant list it rendered. */
function abStats(page) {
  return page.evaluate(async () => {
    const alerts = Array.from(document.querySelectorAll('.bootbox-body')).map((e) => e.textContent);
    const pc = window.mixertest && window.mixertest.webrtcStuff && window.mixertest.webrtcStuff.pc;
    const out = {
      alerts,
      myid: window.myid || null,
      state: pc ? pc.connectionState : null,
      bytes: 0,
      packets: 0,
      energy: 0,
      sent: 0,
      listed: document.querySelectorAll('#list li').length,
      at: performance.now(),
    };
    if (pc) {
      const stats = await pc.getStats();
      stats.forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === 'audio') {
          out.bytes += r.bytesReceived || 0;
          out.packets += r.packetsReceived || 0;
          out.energy += r.totalAudioEnergy || 0;
        } else if (r.type === 'outbound-rtp' && r.kind === 'audio') {
          out.sent += r.packetsSent || 0;
        }
      });
    }
    return out;
  });
}

/** A sync request on the page's AudioBridge handle; resolves with the plugin's reply. */
function request(page, message) {
  return page.evaluate((msg) => new Promise((resolve) => {
    window.mixertest.send({ message: msg, success: resolve, error: (e) => resolve({ error: String(e) }) });
  }), message);
}

/**
 * Polls the received energy of `page` and waits until `accept(rate, previousRate)` holds for
 * the growth rate (energy per second) measured between two consecutive samples at least
 * `windowMs` apart. Returns the accepted rate.
 */
async function energyRate(page, what, accept, { windowMs = 2000, timeoutMs = 30_000 } = {}) {
  let prev = await abStats(page);
  const seen = [];
  return waitFor(what, async () => {
    const now = await abStats(page);
    if (now.alerts.length) throw new FatalError(`demo alert: ${now.alerts.join(' | ')}`);
    const dt = (now.at - prev.at) / 1000;
    if (dt * 1000 < windowMs) return [false, seen];
    const rate = (now.energy - prev.energy) / dt;
    const bytesGrew = now.bytes > prev.bytes;
    prev = now;
    seen.push({ rate: Number(rate.toExponential(3)), bytesGrew });
    if (seen.length > 8) seen.shift();
    const ok = accept(rate, bytesGrew);
    return [ok, ok ? rate : seen];
  }, { timeoutMs, intervalMs: 500 });
}

test(`Debian demo audiobridgetest.html: ${PAGES} participants in room ${ROOM} hear the mix, mute removes a voice`, { timeout: 300_000 }, async (t) => {
  if (!env.demosDir) {
    assert.fail('janus-demos is not installed (apt-get install -y janus-demos): no audiobridgetest.html');
  }
  const pages = [];
  for (let i = 0; i < PAGES; i++) pages.push(await env.newPage(t));
  const diagExpr = '({myid: window.myid, pc: window.mixertest && window.mixertest.webrtcStuff.pc ? ' +
    'window.mixertest.webrtcStuff.pc.connectionState : null, list: Array.from(document.querySelectorAll("#list li")).map(e => e.id + " " + e.textContent), ' +
    'bootbox: Array.from(document.querySelectorAll(".bootbox-body")).map(e => e.textContent)})';
  await withDiagnostics(t, env, pages[PAGES - 1], async () => {
    for (let i = 0; i < PAGES; i++) {
      const page = pages[i];
      await page.goto(`${env.staticBase}/demos-ws/audiobridgetest.html`, { timeout: 15_000 });
      await waitFor(`page ${i}: janus.js initialised`, async () => {
        const ok = await page.evaluate(() => !!(window.Janus && window.Janus.initDone));
        return [ok, ok];
      }, { timeoutMs: 15_000 });
      await page.click('#start', { timeout: 10_000 });
      await page.locator('#username').waitFor({ state: 'visible', timeout: 20_000 });
      await page.fill('#username', `voice${i}`);
      await page.click('#register', { timeout: 10_000 });
      await waitFor(`page ${i}: joined, PeerConnection up`, async () => {
        const s = await abStats(page);
        if (s.alerts.length) throw new FatalError(`demo alert: ${s.alerts.join(' | ')}`);
        return [s.myid && s.state === 'connected', s];
      }, { timeoutMs: 40_000, intervalMs: 500 });
    }
    const ids = [];
    for (let i = 0; i < PAGES; i++) ids.push((await abStats(pages[i])).myid);
    t.diagnostic(`participant ids: ${ids.join(', ')}`);

    // Everybody sends, everybody receives the mix, and the demo lists the others.
    const first = [];
    for (let i = 0; i < PAGES; i++) {
      const s = await waitFor(`page ${i}: receiving the mix with sound in it`, async () => {
        const st = await abStats(pages[i]);
        if (st.alerts.length) throw new FatalError(`demo alert on page ${i}: ${st.alerts.join(' | ')}`);
        return [st.sent > 0 && st.packets > 50 && st.energy > 0 && st.listed === PAGES - 1, st];
      }, { timeoutMs: 60_000, intervalMs: 1000 });
      first.push(s);
      t.diagnostic(`page ${i}: ${JSON.stringify(s)}`);
    }
    for (let i = 0; i < PAGES; i++) {
      await waitFor(`page ${i}: bytes and energy keep growing`, async () => {
        const st = await abStats(pages[i]);
        return [st.bytes > first[i].bytes && st.energy > first[i].energy, st];
      }, { timeoutMs: 20_000, intervalMs: 500 });
    }
    const listener = pages[PAGES - 1];
    const baseline = await energyRate(listener, 'the listener hears two voices', (r) => r > 0);
    t.diagnostic(`listener energy rate with everyone unmuted: ${baseline}`);

    // Mute the two others (moderator request from the listener's own handle).
    for (let i = 0; i < PAGES - 1; i++) {
      const reply = await request(listener, { request: 'mute', room: ROOM, secret: SECRET, id: ids[i] });
      assert.equal(reply.audiobridge, 'success', JSON.stringify(reply));
    }
    const silent = await energyRate(listener, 'the listener hears (almost) nothing',
      (r, bytesGrew) => bytesGrew && r < baseline * 0.02);
    t.diagnostic(`listener energy rate with both others muted: ${silent}`);
    // The muted ones still hear the listener (their mix is the listener's voice).
    const heard = await energyRate(pages[0], 'a muted participant still hears the listener', (r) => r > baseline * 0.1);
    t.diagnostic(`muted page 0 hears the listener at ${heard}`);
    // The demo shows the moderation on every page's list.
    await waitFor('page 1 shows page 0 muted', async () => {
      const shown = await pages[1].evaluate((id) => {
        const icon = document.querySelector(`#rp${id} > i.abmuted`);
        return !!icon && icon.style.display !== 'none';
      }, ids[0]);
      return [shown, shown];
    }, { timeoutMs: 10_000 });

    // Unmute one: the listener hears it again.
    const reply = await request(listener, { request: 'unmute', room: ROOM, secret: SECRET, id: ids[0] });
    assert.equal(reply.audiobridge, 'success', JSON.stringify(reply));
    const back = await energyRate(listener, 'the listener hears the unmuted voice again', (r) => r > baseline * 0.1);
    t.diagnostic(`listener energy rate with one voice back: ${back}`);

    // The participant list agrees.
    const list = await request(listener, { request: 'listparticipants', room: ROOM });
    const muted = Object.fromEntries(list.participants.map((p) => [p.id, p.muted]));
    assert.deepEqual([muted[ids[0]], muted[ids[1]], muted[ids[2]]], [false, true, false]);
    assert.ok(list.participants.every((p) => p.setup === true), JSON.stringify(list));
  }, { resultsExpr: diagExpr });
});
