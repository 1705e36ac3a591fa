// Our EchoTest page, written against the newest janus.js from npm (janus-gateway, ES module).
// Query string: ?server=<ws://... | http://.../janus>
// Exposes everything the test reads on window.results; the handle is window.echotest
// (so window.echotest.webrtcStuff.pc is the PeerConnection, as in Janus's own demo).

import Janus from '/vendor/janus-gateway/npm/dist/janus.es.js';

const params = new URLSearchParams(location.search);
const server = params.get('server');

const results = {
  server,
  initDone: false,
  sessionCreated: false,
  attached: false,
  handleId: null,
  firstReply: null, // onmessage for the body-only request
  answer: null, // the jsep we got back
  remoteDescriptionSet: false,
  webrtcUp: false,
  iceStates: [],
  mediaStates: [],
  remoteTracks: [],
  events: [],
  dataOpen: false,
  dataLabel: null,
  dataSent: [],
  dataReceived: [],
  errors: [],
  done: false,
};
window.results = results;
window.Janus = Janus;

const status = (s) => { document.getElementById('status').textContent = s; };
const fail = (where, e) => {
  const msg = `${where}: ${e && e.message ? e.message : (typeof e === 'string' ? e : JSON.stringify(e))}`;
  results.errors.push(msg);
  status(msg);
};

// Sends a data-channel text message; the test calls this once results.dataOpen is true.
window.sendText = (text) => new Promise((resolve) => {
  window.echotest.data({
    text,
    success: () => { results.dataSent.push(text); resolve(true); },
    error: (e) => { fail('data', e); resolve(false); },
  });
});

if (!server) {
  fail('page', 'no ?server= given');
} else {
  Janus.init({
    debug: ['log', 'warn', 'error'],
    dependencies: Janus.useDefaultDependencies({ adapter: window.adapter }),
    callback: () => {
      results.initDone = true;
      status('creating session');
      const janus = new Janus({
        server,
        iceServers: [],
        success: () => {
          results.sessionCreated = true;
          status('attaching');
          janus.attach({
            plugin: 'janus.plugin.echotest',
            opaqueId: `ianus-test-${Janus.randomString(8)}`,
            success: (handle) => {
              window.echotest = handle;
              results.attached = true;
              results.handleId = handle.getId();
              const body = { audio: true, video: true };
              handle.send({ message: body, error: (e) => fail('send(body)', e) });
              handle.createOffer({
                tracks: [
                  { type: 'audio', capture: true, recv: true },
                  { type: 'video', capture: true, recv: true },
                  { type: 'data' },
                ],
                success: (jsep) => {
                  status('offer sent');
                  handle.send({ message: body, jsep, error: (e) => fail('send(offer)', e) });
                },
                error: (e) => fail('createOffer', e),
              });
            },
            error: (e) => fail('attach', e),
            iceState: (s) => results.iceStates.push(s),
            mediaState: (medium, on, mid) => results.mediaStates.push({ medium, on, mid }),
            webrtcState: (on, reason) => {
              results.webrtcUp = on;
              if (!on) results.events.push({ webrtcDown: reason || true });
              status(on ? 'webrtc up' : 'webrtc down');
            },
            onmessage: (msg, jsep) => {
              results.events.push(msg);
              if (!results.firstReply) results.firstReply = msg;
              if (msg && msg.result === 'done') results.done = true;
              if (msg && msg.error_code) fail('plugin', `${msg.error_code} ${msg.error}`);
              if (jsep) {
                results.answer = { type: jsep.type, sdp: jsep.sdp };
                window.echotest.handleRemoteJsep({
                  jsep,
                  success: () => { results.remoteDescriptionSet = true; },
                  error: (e) => fail('handleRemoteJsep', e),
                });
              }
            },
            onlocaltrack: (track, on) => {
              if (on && track.kind === 'video') {
                document.getElementById('local').srcObject = new MediaStream([track]);
              }
            },
            onremotetrack: (track, mid, on) => {
              results.remoteTracks.push({ kind: track.kind, mid, on });
              if (!on) return;
              const el = document.getElementById(track.kind === 'video' ? 'remote' : 'remote-audio');
              el.srcObject = new MediaStream([track]);
              el.play().catch(() => {});
            },
            ondataopen: (label) => {
              results.dataOpen = true;
              results.dataLabel = label;
            },
            ondata: (data) => results.dataReceived.push(data),
            oncleanup: () => results.events.push({ cleanup: true }),
          });
        },
        error: (e) => fail('session', e),
        destroyed: () => results.events.push({ destroyed: true }),
      });
      window.janusSession = janus;
    },
  });
}
