// VideoRoom with Debian's own demo pages (janus-demos 1.1.2, unchanged except settings.js):
// three Chromium pages join room 1234 and publish the fake camera and microphone; each one must
// subscribe to the other two and decode their video (framesDecoded keeps growing) and receive
// their audio.
// - videoroomtest.html: one subscriber handle per remote feed (legacy-style multistream join);
// - mvideoroomtest.html: one subscriber handle for every feed, grown with `update`/`subscribe`.
// Server under test: IANUS_BIN=… or JANUS_NETNS=1 (see lib/harness.js).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEnvironment } from './lib/harness.js';
import { waitFor, FatalError } from './lib/media.js';
import { withDiagnostics } from './lib/diag.js';

const PAGES = 3;

let env;
before(async () => { env = await startEnvironment(); }, { timeout: 90_000 });
after(async () => { await env?.stop(); }, { timeout: 30_000 });

/** What the demo page knows: our publisher PC and every remote feed's subscriber PC stats. */
function feedStats(page) {
  return page.evaluate(async () => {
    const alerts = Array.from(document.querySelectorAll('.bootbox-body')).map((e) => e.textContent);
    const pub = window.sfutest && window.sfutest.webrtcStuff && window.sfutest.webrtcStuff.pc;
    const out = {
      alerts,
      myid: window.myid || null,
      publisher: pub ? pub.connectionState : null,
      feeds: [],
    };
    for (const f of (window.feeds || [])) {
      if (!f) continue;
      const pc = f.webrtcStuff && f.webrtcStuff.pc;
      const s = { rfid: f.rfid, display: f.rfdisplay, state: pc ? pc.connectionState : null,
        framesDecoded: 0, videoBytes: 0, audioBytes: 0, frameWidth: 0 };
      if (pc) {
        const stats = await pc.getStats();
        stats.forEach((r) => {
          if (r.type !== 'inbound-rtp') return;
          if (r.kind === 'video') {
            s.framesDecoded += r.framesDecoded || 0;
            s.videoBytes += r.bytesReceived || 0;
            s.frameWidth = Math.max(s.frameWidth, r.frameWidth || 0);
          } else if (r.kind === 'audio') {
            s.audioBytes += r.bytesReceived || 0;
          }
        });
      }
      out.feeds.push(s);
    }
    return out;
  });
}

test(`Debian demo videoroomtest.html: ${PAGES} publishers in room 1234 see each other`, { timeout: 240_000 }, async (t) => {
  if (!env.demosDir) {
    assert.fail('janus-demos is not installed (apt-get install -y janus-demos): no videoroomtest.html');
  }
  const pages = [];
  for (let i = 0; i < PAGES; i++) pages.push(await env.newPage(t));
  const diagExpr = '({myid: window.myid, feeds: (window.feeds||[]).filter(Boolean).map(f => ({rfid: f.rfid, ' +
    'state: f.webrtcStuff && f.webrtcStuff.pc ? f.webrtcStuff.pc.connectionState : null})), ' +
    'bootbox: Array.from(document.querySelectorAll(".bootbox-body")).map(e => e.textContent)})';
  await withDiagnostics(t, env, pages[0], async () => {
    for (let i = 0; i < PAGES; i++) {
      const page = pages[i];
      await page.goto(`${env.staticBase}/demos-ws/videoroomtest.html`, { timeout: 15_000 });
      await waitFor(`page ${i}: janus.js initialised`, async () => {
        const ok = await page.evaluate(() => !!(window.Janus && window.Janus.initDone));
        return [ok, ok];
      }, { timeoutMs: 15_000 });
      await page.click('#start', { timeout: 10_000 });
      await page.locator('#username').waitFor({ state: 'visible', timeout: 20_000 });
      await page.fill('#username', `user${i}`);
      await page.click('#register', { timeout: 10_000 });
      // Joined and publishing: our publisher PC is up before the next page joins.
      await waitFor(`page ${i}: joined and publishing`, async () => {
        const s = await feedStats(page);
        if (s.alerts.length) throw new FatalError(`demo alert: ${s.alerts.join(' | ')}`);
        return [s.myid && s.publisher === 'connected', s];
      }, { timeoutMs: 40_000, intervalMs: 500 });
    }

    // Every page subscribes to the two others and decodes them.
    const first = [];
    for (let i = 0; i < PAGES; i++) {
      const s = await waitFor(`page ${i}: ${PAGES - 1} remote feeds decoded`, async () => {
        const st = await feedStats(pages[i]);
        if (st.alerts.length) throw new FatalError(`demo alert on page ${i}: ${st.alerts.join(' | ')}`);
        const ok = st.feeds.length === PAGES - 1 &&
          st.feeds.every((f) => f.state === 'connected' && f.framesDecoded > 0 && f.audioBytes > 0);
        return [ok, st];
      }, { timeoutMs: 60_000, intervalMs: 1000 });
      t.diagnostic(`page ${i} first: ${JSON.stringify(s.feeds)}`);
      first.push(s);
    }
    for (let i = 0; i < PAGES; i++) {
      const s = await waitFor(`page ${i}: remote video keeps being decoded`, async () => {
        const st = await feedStats(pages[i]);
        const ok = st.feeds.every((f) => {
          const before = first[i].feeds.find((x) => x.rfid === f.rfid);
          return before && f.framesDecoded > before.framesDecoded && f.audioBytes > before.audioBytes;
        });
        return [ok, st];
      }, { timeoutMs: 30_000, intervalMs: 1000 });
      t.diagnostic(`page ${i} later: ${JSON.stringify(s.feeds)}`);
      const ids = new Set(s.feeds.map((f) => f.rfid));
      assert.ok(!ids.has(s.myid), 'a page does not subscribe to itself');
      assert.equal(ids.size, PAGES - 1, 'one subscription per other publisher');
    }

    // Page 0 unpublishes (its PC closes, it stays in the room), then publishes again on the
    // same handle: the others drop its feed, then subscribe to the new publication.
    const first0 = (await feedStats(pages[0])).myid;
    await pages[0].click('#unpublish', { timeout: 10_000 });
    for (let i = 1; i < PAGES; i++) {
      await waitFor(`page ${i}: the unpublished feed is removed`, async () => {
        const st = await feedStats(pages[i]);
        return [!st.feeds.some((f) => f.rfid === first0) && st.feeds.length === PAGES - 2, st.feeds];
      }, { timeoutMs: 20_000, intervalMs: 500 });
    }
    await pages[0].locator('#publish').waitFor({ state: 'visible', timeout: 20_000 });
    await pages[0].click('#publish', { timeout: 10_000 });
    await waitFor('page 0: publishing again', async () => {
      const st = await feedStats(pages[0]);
      return [st.publisher === 'connected', st];
    }, { timeoutMs: 30_000, intervalMs: 500 });
    for (let i = 1; i < PAGES; i++) {
      await waitFor(`page ${i}: the republished feed is decoded`, async () => {
        const st = await feedStats(pages[i]);
        const f = st.feeds.find((x) => x.rfid === first0);
        return [st.feeds.length === PAGES - 1 && f && f.state === 'connected' && f.framesDecoded > 0, st.feeds];
      }, { timeoutMs: 40_000, intervalMs: 1000 });
    }

    // One page leaves (detaches): the others drop its feed on `unpublished`/`leaving`.
    const gone = (await feedStats(pages[PAGES - 1])).myid;
    await pages[PAGES - 1].click('#start', { timeout: 10_000 }); // "Stop" = janus.destroy()
    for (let i = 0; i < PAGES - 1; i++) {
      await waitFor(`page ${i}: the departed feed is removed`, async () => {
        const st = await feedStats(pages[i]);
        return [!st.feeds.some((f) => f.rfid === gone) && st.feeds.length === PAGES - 2, st.feeds];
      }, { timeoutMs: 20_000, intervalMs: 500 });
    }
  }, { resultsExpr: diagExpr });
});

/** mvideoroomtest: the single subscriber PC and its decoded inbound streams. */
function multiStats(page) {
  return page.evaluate(async () => {
    const alerts = Array.from(document.querySelectorAll('.bootbox-body')).map((e) => e.textContent);
    const pub = window.sfutest && window.sfutest.webrtcStuff && window.sfutest.webrtcStuff.pc;
    const pc = window.remoteFeed && window.remoteFeed.webrtcStuff && window.remoteFeed.webrtcStuff.pc;
    const out = { alerts, myid: window.myid || null, publisher: pub ? pub.connectionState : null,
      subscriber: pc ? pc.connectionState : null, video: [], audio: [] };
    if (pc) {
      const stats = await pc.getStats();
      stats.forEach((r) => {
        if (r.type !== 'inbound-rtp') return;
        if (r.kind === 'video') out.video.push({ mid: r.mid, framesDecoded: r.framesDecoded || 0 });
        else if (r.kind === 'audio') out.audio.push({ mid: r.mid, bytes: r.bytesReceived || 0 });
      });
    }
    return out;
  });
}

test(`Debian demo mvideoroomtest.html: ${PAGES} publishers, one multistream subscription each`, { timeout: 240_000 }, async (t) => {
  if (!env.demosDir) {
    assert.fail('janus-demos is not installed (apt-get install -y janus-demos): no mvideoroomtest.html');
  }
  const pages = [];
  for (let i = 0; i < PAGES; i++) pages.push(await env.newPage(t));
  await withDiagnostics(t, env, pages[0], async () => {
    for (let i = 0; i < PAGES; i++) {
      const page = pages[i];
      await page.goto(`${env.staticBase}/demos-ws/mvideoroomtest.html`, { timeout: 15_000 });
      await waitFor(`page ${i}: janus.js initialised`, async () => {
        const ok = await page.evaluate(() => !!(window.Janus && window.Janus.initDone));
        return [ok, ok];
      }, { timeoutMs: 15_000 });
      await page.click('#start', { timeout: 10_000 });
      await page.locator('#username').waitFor({ state: 'visible', timeout: 20_000 });
      await page.fill('#username', `multi${i}`);
      await page.click('#register', { timeout: 10_000 });
      await waitFor(`page ${i}: joined and publishing`, async () => {
        const s = await multiStats(page);
        if (s.alerts.length) throw new FatalError(`demo alert: ${s.alerts.join(' | ')}`);
        return [s.myid && s.publisher === 'connected', s];
      }, { timeoutMs: 40_000, intervalMs: 500 });
    }
    const first = [];
    for (let i = 0; i < PAGES; i++) {
      const s = await waitFor(`page ${i}: ${PAGES - 1} video streams decoded on one subscriber PC`, async () => {
        const st = await multiStats(pages[i]);
        if (st.alerts.length) throw new FatalError(`demo alert on page ${i}: ${st.alerts.join(' | ')}`);
        const decoding = st.video.filter((v) => v.framesDecoded > 0).length;
        const hearing = st.audio.filter((a) => a.bytes > 0).length;
        return [st.subscriber === 'connected' && decoding === PAGES - 1 && hearing === PAGES - 1, st];
      }, { timeoutMs: 60_000, intervalMs: 1000 });
      t.diagnostic(`page ${i} first: ${JSON.stringify(s)}`);
      first.push(s);
    }
    for (let i = 0; i < PAGES; i++) {
      const s = await waitFor(`page ${i}: every remote video keeps being decoded`, async () => {
        const st = await multiStats(pages[i]);
        const ok = first[i].video.filter((v) => v.framesDecoded > 0).every((before) => {
          const now = st.video.find((v) => v.mid === before.mid);
          return now && now.framesDecoded > before.framesDecoded;
        });
        return [ok, st];
      }, { timeoutMs: 30_000, intervalMs: 1000 });
      t.diagnostic(`page ${i} later: ${JSON.stringify(s)}`);
    }
  }, { resultsExpr: '({myid: window.myid, subStreams: window.subStreams, bootbox: Array.from(document.querySelectorAll(".bootbox-body")).map(e => e.textContent)})' });
});

/**
 * Runs janus.js 1.1.2 (loaded by the demo page, which is not started) with a data-only
 * publisher or subscriber of our own; state in window.dt.
 */
function dataPeer(page, role, feed) {
  return page.evaluate(({ role: r, feed: f }) => {
    const dt = { role: r, events: [], errors: [], received: [], up: false, open: false };
    window.dt = dt;
    const janus = new Janus({
      server: window.server, iceServers: [],
      error: (e) => dt.errors.push(`session: ${e}`),
      success: () => janus.attach({
        plugin: 'janus.plugin.videoroom',
        error: (e) => dt.errors.push(`attach: ${e}`),
        success: (h) => {
          dt.h = h;
          const join = r === 'publisher'
            ? { request: 'join', room: 1234, ptype: 'publisher', display: 'datapub' }
            : { request: 'join', room: 1234, ptype: 'subscriber', streams: [{ feed: f }] };
          h.send({ message: join });
        },
        onmessage: (msg, jsep) => {
          dt.events.push(msg);
          if (msg.error) dt.errors.push(`plugin: ${msg.error}`);
          const h = dt.h;
          if (r === 'publisher' && msg.videoroom === 'joined') {
            dt.id = msg.id;
            h.createOffer({
              tracks: [{ type: 'data' }],
              success: (j) => h.send({ message: { request: 'configure' }, jsep: j }),
              error: (e) => dt.errors.push(`offer: ${e}`),
            });
          } else if (r === 'publisher' && jsep) {
            h.handleRemoteJsep({ jsep });
          } else if (r === 'subscriber' && jsep) {
            h.createAnswer({
              jsep, tracks: [{ type: 'data' }],
              success: (j) => h.send({ message: { request: 'start', room: 1234 }, jsep: j }),
              error: (e) => dt.errors.push(`answer: ${e}`),
            });
          }
        },
        webrtcState: (on) => { dt.up = on; },
        ondataopen: () => { dt.open = true; },
        ondata: (data, label) => { dt.received.push({ data, label }); },
      }),
    });
    return true;
  }, { role, feed });
}

test('data channels: a publisher\'s messages reach its subscriber, labelled with its ID', { timeout: 120_000 }, async (t) => {
  if (!env.demosDir) {
    assert.fail('janus-demos is not installed (apt-get install -y janus-demos): no videoroomtest.html');
  }
  const pub = await env.newPage(t);
  const sub = await env.newPage(t);
  for (const p of [pub, sub]) {
    await p.goto(`${env.staticBase}/demos-ws/videoroomtest.html`, { timeout: 15_000 });
    await waitFor('janus.js initialised', async () => {
      const ok = await p.evaluate(() => !!(window.Janus && window.Janus.initDone));
      return [ok, ok];
    }, { timeoutMs: 15_000 });
  }
  await withDiagnostics(t, env, sub, async () => {
    const state = async (p) => {
      const s = await p.evaluate(() => ({ errors: window.dt.errors, up: window.dt.up, open: window.dt.open,
        id: window.dt.id, received: window.dt.received, events: window.dt.events }));
      if (s.errors.length) throw new FatalError(s.errors.join('; '));
      return s;
    };
    await dataPeer(pub, 'publisher');
    const p = await waitFor('data-only publisher up with its channel open', async () => {
      const s = await state(pub);
      return [s.up && s.open && s.id, s];
    }, { timeoutMs: 30_000 });
    await dataPeer(sub, 'subscriber', p.id);
    await waitFor('data-only subscriber up with its channel open', async () => {
      const s = await state(sub);
      return [s.up && s.open, s];
    }, { timeoutMs: 30_000 });
    const text = `hello subscribers ${Date.now()}`;
    const got = await waitFor('the message relayed to the subscriber', async () => {
      await pub.evaluate((x) => window.dt.h.data({ text: x }), text);
      const s = await state(sub);
      return [s.received.some((m) => m.data === text), s.received];
    }, { timeoutMs: 20_000, intervalMs: 1000 });
    const m = got.find((x) => x.data === text);
    assert.equal(m.label, String(p.id), 'label = publisher ID (as Janus)');
  }, { resultsExpr: 'window.dt' });
});

test('rtp_forward: a publisher\'s video copied as plain RTP to a UDP port', { timeout: 120_000 }, async (t) => {
  if (!env.demosDir) assert.fail('janus-demos is not installed: no videoroomtest.html');
  if (env.target.wrap.length) {
    t.skip('the server runs in a network namespace: its UDP cannot reach this process');
    return;
  }
  const dgram = await import('node:dgram');
  const sock = dgram.createSocket('udp4');
  const packets = [];
  sock.on('message', (m) => { if (packets.length < 1000) packets.push(m); });
  await new Promise((res) => sock.bind(0, '127.0.0.1', res));
  t.after(() => sock.close());
  const port = sock.address().port;
  const page = await env.newPage(t);
  await withDiagnostics(t, env, page, async () => {
    await page.goto(`${env.staticBase}/demos-ws/videoroomtest.html`, { timeout: 15_000 });
    await waitFor('janus.js initialised', async () => {
      const ok = await page.evaluate(() => !!(window.Janus && window.Janus.initDone));
      return [ok, ok];
    }, { timeoutMs: 15_000 });
    await page.click('#start', { timeout: 10_000 });
    await page.locator('#username').waitFor({ state: 'visible', timeout: 20_000 });
    await page.fill('#username', 'forwarded');
    await page.click('#register', { timeout: 10_000 });
    const s = await waitFor('publishing', async () => {
      const st = await feedStats(page);
      if (st.alerts.length) throw new FatalError(`demo alert: ${st.alerts.join(' | ')}`);
      return [st.myid && st.publisher === 'connected', st];
    }, { timeoutMs: 40_000, intervalMs: 500 });
    const reply = await page.evaluate(({ id, p }) => new Promise((resolve) => {
      window.sfutest.send({
        message: { request: 'rtp_forward', room: 1234, secret: 'adminpwd', publisher_id: id,
          host: '127.0.0.1', streams: [{ mid: '1', port: p, pt: 100, ssrc: 4242 }] },
        success: resolve, error: (e) => resolve({ error: String(e) }),
      });
    }), { id: s.myid, p: port });
    t.diagnostic(`rtp_forward: ${JSON.stringify(reply)}`);
    assert.equal(reply.videoroom, 'rtp_forward', JSON.stringify(reply));
    assert.equal(reply.forwarders.length, 1);
    const got = await waitFor('forwarded RTP packets', async () => [packets.length >= 50, packets.length],
      { timeoutMs: 20_000, intervalMs: 250 });
    t.diagnostic(`received ${got} packets`);
    for (const m of packets.slice(0, 50)) {
      assert.equal(m[0] >> 6, 2, 'RTP version 2');
      assert.equal(m[1] & 0x7f, 100, 'payload type rewritten');
      assert.equal(m.readUInt32BE(8), 4242, 'SSRC rewritten');
    }
    const list = await page.evaluate(() => new Promise((resolve) => {
      window.sfutest.send({ message: { request: 'listforwarders', room: 1234, secret: 'adminpwd' }, success: resolve });
    }));
    assert.equal(list.publishers.length, 1);
    const stop = await page.evaluate(({ id, sid }) => new Promise((resolve) => {
      window.sfutest.send({ message: { request: 'stop_rtp_forward', room: 1234, secret: 'adminpwd',
        publisher_id: id, stream_id: sid }, success: resolve });
    }), { id: s.myid, sid: reply.forwarders[0].stream_id });
    assert.equal(stop.videoroom, 'stop_rtp_forward');
  });
});
