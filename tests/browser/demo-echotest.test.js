// Debian's own EchoTest demo page (janus-demos 1.1.2, served unchanged except settings.js),
// driven through its UI, over WebSocket and HTTP long-poll.
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
  test(`Debian demo echotest.html over ${transport === 'ws' ? 'WebSocket' : 'HTTP long-poll'}`, { timeout: 120_000 }, async (t) => {
    if (!env.demosDir) {
      assert.fail('janus-demos is not installed (apt-get install -y janus-demos): dpkg -L janus-demos has no echotest.html');
    }
    const page = await env.newPage(t);
    // bootbox.alert() is how the demo reports errors: record them.
    await page.goto(`${env.staticBase}/demos-${transport}/echotest.html`, { timeout: 15_000 });
    const diagExpr = '({janus: !!window.janus, server: window.server, handle: window.echotest ? window.echotest.getId() : null, ' +
      'bootbox: Array.from(document.querySelectorAll(".bootbox-body")).map(e => e.textContent), ' +
      'datarecv: (document.querySelector("#datarecv")||{}).value})';
    await withDiagnostics(t, env, page, async () => {
      const served = await page.evaluate(() => window.server);
      assert.equal(served, env.serverUrl(transport), 'settings.js served with our server URL');

      await waitFor('janus.js initialised (Janus.initDone)', async () => {
        const ok = await page.evaluate(() => !!(window.Janus && window.Janus.initDone));
        return [ok, ok];
      }, { timeoutMs: 15_000 });
      await page.click('#start', { timeout: 10_000 });

      const bootboxes = () => page.evaluate(() => Array.from(document.querySelectorAll('.bootbox-body')).map((e) => e.textContent));
      await waitFor('the demo attached to the EchoTest plugin', async () => {
        const alerts = await bootboxes();
        if (alerts.length) throw new FatalError(`demo alert: ${alerts.join(' | ')}`);
        const id = await page.evaluate(() => (window.echotest ? window.echotest.getId() : null));
        return [id !== null, id];
      }, { timeoutMs: 20_000 });

      await assertEchoMedia(page, {
        pcPath: 'echotest.webrtcStuff.pc', videoSelector: '#videoright video', log: (m) => t.diagnostic(m),
      });

      await page.locator('#datasend:not([disabled])').waitFor({ timeout: 20_000 });
      const text = `hello from the demo ${transport} ${Date.now()}`;
      await page.fill('#datasend', text);
      await page.press('#datasend', 'Enter');
      const got = await waitFor('the data channel echo in #datarecv', async () => {
        const v = await page.inputValue('#datarecv');
        return [v === ECHO_PREFIX + text, v];
      }, { timeoutMs: 15_000 });
      t.diagnostic(`#datarecv: ${got}`);
      assert.deepEqual(await bootboxes(), [], 'no alert from the demo');
    }, { resultsExpr: diagExpr });
  });
}
