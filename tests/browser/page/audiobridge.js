// Our AudioBridge page, written against the newest janus.js from npm (janus-gateway, ES module).
// Query string:
//   ?server=<ws://... | http://.../janus>   the server under test
//   &room=1234&display=<name>                what to join (room defaults to 1234)
//   &tone=<Hz>                               send a sine of this frequency (WebAudio oscillator)
//                                            instead of the fake microphone's beep, so that the
//                                            test can tell the voices apart in a mix
// Exposes what the test reads on window.ab; the handle is window.audiobridge (so
// window.audiobridge.webrtcStuff.pc is the PeerConnection, as in Janus's own demo).
//
// Why the received mix plays in an <audio> element as well as feeding WebAudio: Chromium
// decodes remote WebRTC audio only for a playing media element (without it, getStats counts
// packets but totalAudioEnergy stays 0). The MediaStreamAudioSourceNode → AnalyserNode gives
// the spectrum the test inspects (window.abLevels()).

import Janus from '/vendor/janus-gateway/npm/dist/janus.es.js';

const params = new URLSearchParams(location.search);
const server = params.get('server');
const room = Number(params.get('room') || 1234);
const display = params.get('display') || `page-${Janus.randomString(4)}`;
const tone = params.get('tone') ? Number(params.get('tone')) : null;

/** Spectra kept for averaging: ~1 s at one snapshot every 100 ms. */
const SPECTRUM_WINDOW = 10;
const SPECTRUM_INTERVAL_MS = 100;
/** 8192 points at 48 kHz: ~5.9 Hz per bin, fine enough to separate the tones. */
const FFT_SIZE = 8192;

const ab = {
  server,
  room,
  display,
  tone,
  initDone: false,
  sessionCreated: false,
  attached: false,
  myId: null,
  joined: false,
  left: false,
  offerSent: false,
  configured: false, // the {"result":"ok"} event to our configure
  answerApplied: false,
  webrtcUp: false,
  remoteTrack: false,
  analysing: false,
  audioContextState: null,
  /** id -> {id, display, setup, muted}; never contains ourselves. */
  participants: {},
  /** ids whose `leaving` event we saw, in order. */
  leaving: [],
  /** {event: "talking" | "stopped-talking", id} in order. */
  talking: [],
  events: [],
  errors: [],
};
window.ab = ab;
window.Janus = Janus;

const status = (s) => { document.getElementById('status').textContent = s; };
const fail = (where, e) => {
  const msg = `${where}: ${e && e.message ? e.message : (typeof e === 'string' ? e : JSON.stringify(e))}`;
  ab.errors.push(msg);
  status(msg);
};

function renderParticipants() {
  const ul = document.getElementById('participants');
  ul.textContent = '';
  for (const p of Object.values(ab.participants)) {
    const li = document.createElement('li');
    li.id = `p${p.id}`;
    li.textContent = `${p.display ?? p.id}${p.muted ? ' (muted)' : ''}${p.setup ? '' : ' (no media yet)'}`;
    ul.appendChild(li);
  }
}

/** Merges a `participants` array (from joined / event / roomchanged) into ab.participants. */
function updateParticipants(list) {
  for (const p of list || []) {
    if (p.id === ab.myId) continue;
    const prev = ab.participants[p.id] || {};
    ab.participants[p.id] = {
      id: p.id,
      display: p.display ?? prev.display ?? null,
      setup: p.setup ?? prev.setup ?? false,
      muted: p.muted ?? prev.muted ?? false,
    };
  }
  renderParticipants();
}

// ---------------------------------------------------------------------------------------------
// WebAudio: one context for the tone we send and the analyser of what we receive.

let audioCtx = null;
function context() {
  if (!audioCtx) audioCtx = new AudioContext();
  // --autoplay-policy=no-user-gesture-required lets it run without a click.
  audioCtx.resume().catch(() => {});
  return audioCtx;
}

/** A continuous sine as a MediaStreamTrack (what createOffer sends instead of a microphone). */
function toneTrack(hz) {
  const ctx = context();
  const osc = ctx.createOscillator();
  osc.type = 'sine';
  osc.frequency.value = hz;
  const gain = ctx.createGain();
  gain.gain.value = 0.25;
  const dest = ctx.createMediaStreamDestination();
  osc.connect(gain).connect(dest);
  osc.start();
  return dest.stream.getAudioTracks()[0];
}

let analyser = null;
let bins = null;
const spectra = []; // the last SPECTRUM_WINDOW power spectra (linear), newest last

function analyse(stream) {
  const ctx = context();
  const source = ctx.createMediaStreamSource(stream);
  analyser = ctx.createAnalyser();
  analyser.fftSize = FFT_SIZE;
  analyser.smoothingTimeConstant = 0; // we average over SPECTRUM_WINDOW snapshots ourselves
  source.connect(analyser);
  bins = new Float32Array(analyser.frequencyBinCount);
  ab.analysing = true;
  setInterval(() => {
    ab.audioContextState = ctx.state;
    analyser.getFloatFrequencyData(bins);
    const power = new Float32Array(bins.length);
    for (let i = 0; i < bins.length; i++) power[i] = Number.isFinite(bins[i]) ? 10 ** (bins[i] / 10) : 0;
    spectra.push(power);
    if (spectra.length > SPECTRUM_WINDOW) spectra.shift();
  }, SPECTRUM_INTERVAL_MS);
}

const toDb = (p) => (p > 0 ? 10 * Math.log10(p) : -200);

/**
 * The received mix, averaged over the last ~1 s: for each frequency asked, the peak level
 * (dB) within ±15 Hz of it and that peak above the median level of 100..7000 Hz (snr, dB).
 * `floor` is that median; `n` the number of snapshots averaged.
 */
window.abLevels = (freqs) => {
  if (!analyser || spectra.length === 0) return { n: 0, floor: null, levels: {} };
  const len = spectra[0].length;
  const avg = new Float64Array(len);
  for (const s of spectra) for (let i = 0; i < len; i++) avg[i] += s[i] / spectra.length;
  const hzPerBin = audioCtx.sampleRate / FFT_SIZE;
  const band = [];
  for (let i = Math.ceil(100 / hzPerBin); i <= Math.floor(7000 / hzPerBin) && i < len; i++) band.push(avg[i]);
  band.sort((a, b) => a - b);
  const floor = toDb(band[Math.floor(band.length / 2)]);
  const levels = {};
  for (const f of freqs) {
    const lo = Math.max(0, Math.floor((f - 15) / hzPerBin));
    const hi = Math.min(len - 1, Math.ceil((f + 15) / hzPerBin));
    let peak = 0;
    for (let i = lo; i <= hi; i++) peak = Math.max(peak, avg[i]);
    const db = toDb(peak);
    levels[f] = { db: Math.round(db * 10) / 10, snr: Math.round((db - floor) * 10) / 10 };
  }
  return { n: spectra.length, floor: Math.round(floor * 10) / 10, sampleRate: audioCtx.sampleRate, levels };
};

/** A request on our handle; resolves with the plugin's sync reply (undefined for an ack). */
window.abRequest = (message) => new Promise((resolve) => {
  window.audiobridge.send({ message, success: resolve, error: (e) => resolve({ error: String(e) }) });
});

// ---------------------------------------------------------------------------------------------

function sendOffer(handle) {
  const audio = { type: 'audio', capture: tone ? toneTrack(tone) : true, recv: true };
  handle.createOffer({
    tracks: [audio],
    success: (jsep) => {
      ab.offerSent = true;
      status('offer sent');
      handle.send({ message: { request: 'configure', muted: false }, jsep, error: (e) => fail('send(configure)', e) });
    },
    error: (e) => fail('createOffer', e),
  });
}

function onMessage(handle, msg, jsep) {
  ab.events.push(msg);
  if (ab.events.length > 200) ab.events.shift();
  const what = msg && msg.audiobridge;
  if (msg && msg.error_code) fail('plugin', `${msg.error_code} ${msg.error}`);
  if (what === 'joined') {
    if (msg.id !== undefined && ab.myId === null) {
      // Our own join: the others are in `participants`; now offer our audio.
      ab.myId = msg.id;
      ab.joined = true;
      status(`joined as ${msg.id}`);
      updateParticipants(msg.participants);
      sendOffer(handle);
    } else {
      updateParticipants(msg.participants);
    }
  } else if (what === 'roomchanged') {
    ab.myId = msg.id;
    ab.participants = {};
    updateParticipants(msg.participants);
  } else if (what === 'event') {
    if (msg.result === 'ok') ab.configured = true;
    if (msg.participants) updateParticipants(msg.participants);
    if (msg.leaving !== undefined) {
      ab.leaving.push(msg.leaving);
      delete ab.participants[msg.leaving];
      renderParticipants();
    }
    if (msg.kicked !== undefined) {
      delete ab.participants[msg.kicked];
      renderParticipants();
    }
  } else if (what === 'left') {
    ab.left = true;
    ab.participants = {};
    renderParticipants();
  } else if (what === 'talking' || what === 'stopped-talking') {
    ab.talking.push({ event: what, id: msg.id });
  } else if (what === 'destroyed') {
    fail('room', `room ${msg.room} destroyed`);
  }
  if (jsep) {
    handle.handleRemoteJsep({
      jsep,
      success: () => { ab.answerApplied = true; },
      error: (e) => fail('handleRemoteJsep', e),
    });
  }
}

if (!server) {
  fail('page', 'no ?server= given');
} else {
  Janus.init({
    debug: ['warn', 'error'],
    dependencies: Janus.useDefaultDependencies({ adapter: window.adapter }),
    callback: () => {
      ab.initDone = true;
      status('creating session');
      const janus = new Janus({
        server,
        iceServers: [],
        success: () => {
          ab.sessionCreated = true;
          status('attaching');
          janus.attach({
            plugin: 'janus.plugin.audiobridge',
            opaqueId: `ianus-test-${Janus.randomString(8)}`,
            success: (handle) => {
              window.audiobridge = handle;
              ab.attached = true;
              handle.send({
                message: { request: 'join', room, display },
                error: (e) => fail('send(join)', e),
              });
            },
            error: (e) => fail('attach', e),
            webrtcState: (on, reason) => {
              ab.webrtcUp = on;
              if (!on) ab.events.push({ webrtcDown: reason || true });
            },
            onmessage: (msg, jsep) => onMessage(window.audiobridge, msg, jsep),
            onremotetrack: (track, mid, on) => {
              if (!on || track.kind !== 'audio' || ab.remoteTrack) return;
              ab.remoteTrack = true;
              const stream = new MediaStream([track]);
              const el = document.getElementById('mix');
              el.srcObject = stream;
              el.muted = false;
              el.play().catch((e) => ab.events.push({ playError: String(e) }));
              analyse(stream);
            },
            oncleanup: () => ab.events.push({ cleanup: true }),
          });
        },
        error: (e) => fail('session', e),
        destroyed: () => ab.events.push({ destroyed: true }),
      });
      window.janusSession = janus;
    },
  });
}
