// Debian's screensharingtest.html (janus-demos 1.1.2, unchanged except settings.js): a presenter
// page creates a VideoRoom room (`create`, one publisher, 500 kbit/s), joins it and publishes
// its screen (getDisplayMedia: Chromium's synthetic 1280x720 "Entire screen") plus the fake
// microphone; a viewer page joins that room by number, subscribes to the presenter and must
// decode the screen (framesDecoded keeps growing) and receive the audio.
// Server under test: IANUS_BIN=… or JANUS_NETNS=1 (see lib/harness.js).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEnvironment, SCREEN_CAPTURE_FLAGS } from './lib/harness.js';
import { waitFor, FatalError } from './lib/media.js';
import { withDiagnostics } from './lib/diag.js';

let env;
before(async () => { env = await startEnvironment({ chromiumFlags: SCREEN_CAPTURE_FLAGS }); }, { timeout: 90_000 });
after(async () => { await env?.stop(); }, { timeout: 30_000 });

/** The demo's state, and what every PeerConnection of the page sends and receives. */
function screenStats(page) {
  return page.evaluate(async () => {
    const alerts = Array.from(document.querySelectorAll('.bootbox-body')).map((e) => e.textContent);
    const out = { alerts, room: window.room || null, role: window.role || null, pcs: [] };
    for (const pc of (window.__pcs || [])) {
      const s = { state: pc.connectionState, inVideo: null, inAudioBytes: 0, outVideo: null };
      const stats = await pc.getStats();
      stats.forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === 'video') {
          s.inVideo = { framesDecoded: r.framesDecoded || 0, frameWidth: r.frameWidth || 0, frameHeight: r.frameHeight || 0 };
        } else if (r.type === 'inbound-rtp' && r.kind === 'audio') {
          s.inAudioBytes += r.bytesReceived || 0;
        } else if (r.type === 'outbound-rtp' && r.kind === 'video') {
          s.outVideo = { framesEncoded: r.framesEncoded || 0, frameWidth: r.frameWidth || 0, frameHeight: r.frameHeight || 0 };
        }
      });
      out.pcs.push(s);
    }
    const v = document.querySelector('#screencapture video');
    out.videoWidth = v ? v.videoWidth : 0;
    return out;
  });
}

async function openDemo(page) {
  await page.goto(`${env.staticBase}/demos-ws/screensharingtest.html`, { timeout: 15_000 });
  await waitFor('janus.js initialised', async () => {
    const ok = await page.evaluate(() => !!(window.Janus && window.Janus.initDone));
    return [ok, ok];
  }, { timeoutMs: 15_000 });
  await page.click('#start', { timeout: 10_000 });
}

test('Debian demo screensharingtest.html: a viewer decodes the shared screen', { timeout: 150_000 }, async (t) => {
  if (!env.demosDir) assert.fail('janus-demos is not installed (apt-get install -y janus-demos): no screensharingtest.html');
  const presenter = await env.newPage(t, { trackPcs: true });
  const viewer = await env.newPage(t, { trackPcs: true });
  await withDiagnostics(t, env, viewer, async () => {
    await openDemo(presenter);
    await presenter.locator('#desc').waitFor({ state: 'visible', timeout: 20_000 });
    await presenter.fill('#desc', 'Ianus screen');
    await presenter.click('#create', { timeout: 10_000 });
    // webrtcup: the demo alerts "Your screen sharing session just started: pass the <room>…".
    const p = await waitFor('presenter sharing its screen', async () => {
      const st = await screenStats(presenter);
      const started = st.alerts.some((a) => a.includes('session just started'));
      if (!started && st.alerts.length) throw new FatalError(`demo alert: ${st.alerts.join(' | ')}`);
      const out = st.pcs[0] && st.pcs[0].outVideo;
      return [started && st.room && out && out.framesEncoded > 0, st];
    }, { timeoutMs: 40_000, intervalMs: 500 });
    t.diagnostic(`presenter: room ${p.room}, ${JSON.stringify(p.pcs)}`);
    assert.ok(p.alerts[0].includes(String(p.room)), 'the alert names the room');

    await openDemo(viewer);
    await viewer.locator('#roomid').waitFor({ state: 'visible', timeout: 20_000 });
    await viewer.fill('#roomid', String(p.room));
    await viewer.click('#join', { timeout: 10_000 });
    const first = await waitFor('viewer decoding the screen and hearing the presenter', async () => {
      const st = await screenStats(viewer);
      if (st.alerts.length) throw new FatalError(`demo alert on the viewer: ${st.alerts.join(' | ')}`);
      const sub = st.pcs.find((x) => x.inVideo);
      return [sub && sub.state === 'connected' && sub.inVideo.framesDecoded > 0 && sub.inAudioBytes > 0 &&
        st.videoWidth > 0, st];
    }, { timeoutMs: 40_000, intervalMs: 500 });
    const sub0 = first.pcs.find((x) => x.inVideo);
    const later = await waitFor('the screen keeps being decoded', async () => {
      const st = await screenStats(viewer);
      const sub = st.pcs.find((x) => x.inVideo);
      return [sub && sub.inVideo.framesDecoded > sub0.inVideo.framesDecoded + 5 && sub.inAudioBytes > sub0.inAudioBytes, st];
    }, { timeoutMs: 30_000, intervalMs: 500 });
    t.diagnostic(`viewer: ${JSON.stringify(first.pcs)} then ${JSON.stringify(later.pcs)}, <video> ${later.videoWidth}px`);
    // The synthetic screen is 16:9 (1280x720 unless the encoder scaled it down).
    const v = later.pcs.find((x) => x.inVideo).inVideo;
    assert.ok(Math.abs(v.frameWidth / v.frameHeight - 16 / 9) < 0.05, `screen aspect ${v.frameWidth}x${v.frameHeight}`);
    assert.equal(later.role, 'listener');

    // The presenter stops (destroys its session): the viewer is told the publisher left.
    await presenter.click('.bootbox .bootbox-accept', { timeout: 10_000 }); // the "started" alert
    await presenter.locator('.bootbox').waitFor({ state: 'detached', timeout: 10_000 });
    await presenter.click('#start', { timeout: 10_000 });
    await waitFor('the viewer told that the session is over', async () => {
      const st = await screenStats(viewer);
      return [st.alerts.some((a) => a.includes('the publisher left')), st.alerts];
    }, { timeoutMs: 20_000, intervalMs: 500 });
  }, { resultsExpr: '({room: window.room, role: window.role, myid: window.myid, bootbox: Array.from(document.querySelectorAll(".bootbox-body")).map(e => e.textContent)})' });
});
