// On failure, print what is needed to see why: page state, browser console, server log.

export async function withDiagnostics(t, env, page, body, { resultsExpr = 'window.results' } = {}) {
  try {
    return await body();
  } catch (e) {
    let results = '(unavailable)';
    try {
      results = JSON.stringify(await page.evaluate((expr) => {
        // eslint-disable-next-line no-new-func
        const v = new Function(`return (${expr});`)();
        return v === undefined ? null : v;
      }, resultsExpr), null, 1);
    } catch (err) { results = `(page gone: ${err.message})`; }
    if (results && results.length > 6000) results = results.slice(0, 6000) + ' …';
    const report = [
      `FAILED: ${e.message}`,
      `--- page state (${resultsExpr}) ---`, results,
      '--- browser console (tail) ---', page.consoleLog ? page.consoleLog.tail(60) : '(none)',
      `--- ${env.mode} log (tail) ---`, env.serverLog(80),
    ].join('\n');
    console.error(report);
    throw e;
  }
}
