// EchoTest with our own page and the newest janus.js from npm, over WebSocket and HTTP long-poll.
// Server under test: IANUS_BIN=… or JANUS_NETNS=1 (see lib/harness.js).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEnvironment } from './lib/harness.js';
import { assertEchoMedia, waitFor, ECHO_PREFIX, FatalError } from './lib/media.js';
import { withDiagnostics } from './lib/diag.js';

let env;
before(async () => { env = await startEnvironment(); }, { timeout: 90_000 });
after(async () => { await env?.stop(); }, { timeout: 30_000 });

for (const transport of ['ws', 'http']) {
  test(`npm janus.js EchoTest over ${transport === 'ws' ? 'WebSocket' : 'HTTP long-poll'}`, { timeout: 120_000 }, async (t) => {
    const page = await env.newPage(t);
    const server = env.serverUrl(transport);
    await page.goto(`${env.staticBase}/page/index.html?server=${encodeURIComponent(server)}`, { timeout: 15_000 });
    await withDiagnostics(t, env, page, async () => {
      // Any error the page recorded (session, attach, plugin error, SDP) ends the test at once.
      const state = async () => {
        const r = await page.evaluate(() => window.results);
        if (r?.errors?.length) throw new FatalError(`page errors: ${r.errors.join('; ')}`);
        return r;
      };

      await waitFor('session created and echotest attached', async () => {
        const r = await state();
        return [r?.attached, r && { sessionCreated: r.sessionCreated, attached: r.attached }];
      }, { timeoutMs: 20_000 });

      const answered = await waitFor('the plugin\'s answer (result "ok" + jsep answer) applied', async () => {
        const r = await state();
        return [r.answer && r.remoteDescriptionSet, { events: r.events, errors: r.errors, answer: !!r.answer }];
      }, { timeoutMs: 20_000 });
      assert.ok(answered.events.some((m) => m && m.echotest === 'event' && m.result === 'ok'),
        `an {"echotest":"event","result":"ok"} event: ${JSON.stringify(answered.events)}`);
      const answer = await page.evaluate(() => window.results.answer);
      assert.equal(answer.type, 'answer');

      await assertEchoMedia(page, {
        pcPath: 'echotest.webrtcStuff.pc', videoSelector: '#remote', log: (m) => t.diagnostic(m),
      });

      await waitFor('webrtcup event (webrtcState(true))', async () => {
        const r = await state();
        return [r.webrtcUp === true, { webrtcUp: r.webrtcUp }];
      }, { timeoutMs: 10_000 });

      await waitFor('data channel open', async () => {
        const r = await state();
        return [r.dataOpen, { dataOpen: r.dataOpen }];
      }, { timeoutMs: 20_000 });
      const text = `hello from the ianus harness ${transport} ${Date.now()}`;
      assert.equal(await page.evaluate((x) => window.sendText(x), text), true, 'data channel send');
      const got = await waitFor('the data channel echo', async () => {
        const r = await state();
        return [r.dataReceived.includes(ECHO_PREFIX + text), r.dataReceived];
      }, { timeoutMs: 15_000 });
      t.diagnostic(`data channel echo: ${JSON.stringify(got)}`);

      const errors = await page.evaluate(() => window.results.errors);
      assert.deepEqual(errors, [], 'no errors on the page');
    });
  });
}
