// The watch page: Shaka Player on the signed manifests of `GET /videos/{id}`.
//
// DASH first, HLS if DASH fails (`?format=hls` or `?format=dash` forces one). Premium videos
// get their ClearKey licence (AES-128 key for HLS) from our API, with the bearer token added by
// a request filter. Playback resumes from the viewer's saved position and reports progress
// every few seconds and on pause and end. `?autoplay=0` waits for a click before loading.

import * as api from './api.js';
import {showCaptions} from './captions.js';
import {showCommunity} from './community.js';
import {formatTime, h, notify, renderAccount, renderCards} from './layout.js';
import {trackQuality} from './qoe.js';

const REPORT_EVERY_MS = 5000;
// Saved positions this close to the end start the video over instead.
const RESUME_END_MARGIN_S = 2;
// A timeupdate gap larger than this is a seek or a stall, not time watched.
const MAX_TICK_S = 1.5;
const MIME = {dash: 'application/dash+xml', hls: 'application/x-mpegurl'};
const DASH_IF_CLEARKEY = 'urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e';

const params = new URLSearchParams(location.search);
const videoId = params.get('v');
const forcedFormat = params.get('format');
const container = document.getElementById('player');
const video = document.getElementById('video');

function block(title, reason, action = null) {
  document.getElementById('blocked-title').textContent = title;
  document.getElementById('blocked-reason').textContent = reason;
  document.getElementById('blocked-action').replaceChildren(...(action ? [action] : []));
  document.getElementById('blocked').hidden = false;
  container.dataset.state = 'blocked';
}

function signInLink() {
  const next = encodeURIComponent(location.pathname + location.search);
  return h('a', {class: 'button', href: `/login.html?next=${next}`}, 'Sign in');
}

/** Why the caller gets metadata but no playback URLs. */
function explainUnplayable(meta) {
  if (meta.encoding_status !== 'ready') {
    const reason = meta.failure_reason ? ` (${meta.failure_reason})` : '';
    block('Not ready yet', `This video is ${meta.encoding_status}${reason}.`);
  } else if (meta.visibility === 'premium' && !api.signedIn()) {
    block('Sign in to watch', 'This video is for subscribers.', signInLink());
  } else if (meta.visibility === 'premium') {
    block('Subscription required', 'Playing this video needs an active subscription.');
  } else {
    block('Not available', 'This video cannot be played right now.');
  }
}

/** The API's answer when it refused a licence or key request, else null. */
function refusal(error, drm) {
  const Code = shaka.util.Error.Code;
  const cause = error?.code === Code.LICENSE_REQUEST_FAILED ? error.data[0] : error;
  if (cause?.code !== Code.BAD_HTTP_STATUS) return null;
  const [uri, status, text] = cause.data;
  if (![drm?.clearkey_license_url, drm?.hls_key_url].some((ours) => ours && uri.startsWith(ours))) {
    return null;
  }
  let body = {};
  try {
    body = JSON.parse(text);
  } catch {
    // Not our JSON error body: the status alone decides.
  }
  return {status, code: body.code, message: body.message ?? `HTTP ${status}`};
}

function explainRefusal({status, code, message}) {
  if (status === 401) block('Sign in to watch', capitalize(message), signInLink());
  else if (code === 'not_entitled') block('Subscription required', capitalize(message));
  else if (code === 'taken_down') block('Taken down', capitalize(message));
  else block('Playback refused', capitalize(message));
}

const capitalize = (text) => text.charAt(0).toUpperCase() + text.slice(1);

function sources(playback) {
  const dash = {format: 'dash', url: playback.dash_url};
  // Encrypted CMAF over HLS needs EME on HLS; the AES-128 variant plays wherever HLS does.
  const hls = {format: 'hls', url: playback.drm?.hls_aes_url ?? playback.hls_url};
  if (forcedFormat === 'hls') return [hls];
  if (forcedFormat === 'dash') return [dash];
  return [dash, hls];
}

async function savedPosition(duration) {
  if (!api.signedIn()) return null;
  try {
    const {items} = await api.history();
    const entry = items.find((item) => item.video.id === videoId);
    if (entry && entry.position_s > 0 && entry.position_s < (duration ?? Infinity) - RESUME_END_MARGIN_S) {
      return entry.position_s;
    }
  } catch (error) {
    // Without history the video starts from the beginning; nothing else is lost.
    console.warn('no saved position:', error.message);
  }
  return null;
}

function randomUuid() {
  // crypto.randomUUID exists only on secure origins; getRandomValues everywhere.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Progress reports to `POST /videos/{id}/watch`: position, and seconds played since the last. */
function reportProgress(meta) {
  const sessionId = randomUuid();
  let watched = 0;
  let lastTime = null;
  let stopped = false;

  video.addEventListener('timeupdate', () => {
    const now = video.currentTime;
    if (lastTime !== null && !video.seeking) {
      const delta = now - lastTime;
      if (delta > 0 && delta < MAX_TICK_S) watched += delta;
    }
    lastTime = now;
  });
  video.addEventListener('seeking', () => {
    lastTime = null;
  });

  const send = (eventType, keepalive = false) => {
    const duration = Number.isFinite(video.duration) ? video.duration : meta.duration_s;
    if (stopped || !duration) return;
    const report = {
      position_s: Math.min(video.currentTime, duration),
      duration_s: duration,
      watched_delta_s: Math.min(watched, duration),
      session_id: sessionId,
      event_type: eventType,
      client: 'web',
    };
    watched = 0;
    api.reportWatch(videoId, report, keepalive).catch((error) => {
      if (error.status === 401 || error.status === 403) stopped = true;
      console.warn('progress not saved:', error.message);
    });
  };

  setInterval(() => {
    if (!video.paused) send('progress');
  }, REPORT_EVERY_MS);
  // A video that reaches its end is paused too, just before `ended`: report it once, as ended.
  video.addEventListener('pause', () => {
    if (!video.ended) send('pause');
  });
  video.addEventListener('ended', () => send('ended'));
  window.addEventListener('pagehide', () => {
    if (!video.paused) send('pause', true);
  });
  return () => {
    stopped = true;
  };
}

function showDetails(meta) {
  document.title = `${meta.title} · Reelflow`;
  document.getElementById('title').textContent = meta.title;
  document.getElementById('description').textContent = meta.description;
  if (meta.poster_url) video.poster = meta.poster_url;
}

function status(text) {
  document.getElementById('status').textContent = text;
}

async function showSimilar() {
  let similar;
  try {
    similar = await api.similar(videoId);
  } catch {
    // Recommendations are optional: without them the page simply has no sidebar.
    return;
  }
  const cards = similar.items.filter((card) => card.id !== videoId);
  if (!cards.length) return;
  renderCards(document.getElementById('similar'), cards, '');
  document.getElementById('similar-section').hidden = false;
}

async function play(meta) {
  const {playback} = meta;
  const player = new shaka.Player();
  // Before attaching: the player picks its captions display then, and only with a container
  // does it draw them in its UI (a native <track> would need a `data:` media source).
  player.setVideoContainer(container);
  await player.attach(video);
  const quality = trackQuality(player, video, videoId);
  const ui = new shaka.ui.Overlay(player, container, video);
  // No Chromecast: its sender script would come from Google's servers.
  ui.configure({castReceiverAppId: '', castSenderUrl: ''});

  const drm = playback.drm;
  if (drm) {
    player.configure({
      drm: {servers: {'org.w3.clearkey': drm.clearkey_license_url}},
      // The packager lists the DASH-IF ClearKey system next to the W3C common one; Chromium's
      // ClearKey CDM refuses the former's PSSH ("No supported PSSH box"), so it is ignored.
      manifest: {dash: {keySystemsByURI: {[DASH_IF_CLEARKEY]: ''}}},
    });
    const RequestType = shaka.net.NetworkingEngine.RequestType;
    player.getNetworkingEngine().registerRequestFilter(async (type, request) => {
      if (type !== RequestType.LICENSE && type !== RequestType.KEY) return;
      const token = await api.accessToken();
      if (token) request.headers.Authorization = `Bearer ${token}`;
    });
  }

  let loaded = null;
  let refused = null;
  let stopReporting = () => {};
  const fail = (error) => {
    quality.failed(error);
    refused = refusal(error, drm);
    stopReporting();
    player.unload().catch(() => {});
    if (refused) explainRefusal(refused);
    else block('Playback failed', `The player stopped (Shaka error ${error?.code ?? error}).`);
  };
  // A licence refusal can arrive while a manifest loads; other errors during a load are
  // answered by trying the next format, and recoverable ones by Shaka itself.
  player.addEventListener('error', (event) => {
    const error = event.detail;
    if (error.severity !== shaka.util.Error.Severity.CRITICAL) return;
    if (loaded || refusal(error, drm)) fail(error);
  });

  const startAt = await savedPosition(meta.duration_s);
  let lastError = null;
  for (const source of sources(playback)) {
    try {
      await player.load(source.url, startAt, MIME[source.format]);
      loaded = source;
      break;
    } catch (error) {
      lastError = error;
      if (refused || refusal(error, drm)) break;
    }
  }
  if (refused) return;
  if (!loaded) {
    fail(lastError);
    return;
  }
  container.dataset.format = loaded.format;
  container.dataset.state = 'playing';
  status(
    `${loaded.format.toUpperCase()}${drm ? ' · protected' : ''}` +
      (startAt ? ` · resumed at ${formatTime(startAt)}` : ''),
  );
  showCaptions(player, document.getElementById('captions'));
  if (meta.thumbnails_vtt_url) {
    // Scrub previews on the seek bar; playback goes on without them.
    player.addThumbnailsTrack(meta.thumbnails_vtt_url, 'text/vtt').catch((error) => {
      console.warn('no thumbnails track:', error.code);
    });
  }
  if (api.signedIn()) stopReporting = reportProgress(meta);
  video.play().catch(() => {
    // Autoplay refused: the player's own play button starts it.
  });
}

async function main() {
  renderAccount().catch((error) => notify(error.message, 'error'));
  if (!videoId) {
    block('No video', 'This link names no video.');
    return;
  }
  let meta;
  try {
    meta = await api.video(videoId);
  } catch (error) {
    if (error.status === 404) block('Not found', 'No such video, or it is private.');
    else block('Unavailable', error.message);
    return;
  }
  showDetails(meta);
  showSimilar();
  showCommunity(meta).catch((error) => console.warn('no community controls:', error.message));
  if (!meta.playback) {
    explainUnplayable(meta);
    return;
  }
  shaka.polyfill.installAll();
  if (!shaka.Player.isBrowserSupported()) {
    block('Unsupported browser', 'This browser cannot play adaptive streams.');
    return;
  }
  if (params.get('autoplay') === '0') {
    const start = h('button', {type: 'button', id: 'start'}, 'Play');
    start.addEventListener('click', () => {
      document.getElementById('blocked').hidden = true;
      play(meta).catch((error) => block('Playback failed', error.message));
    });
    block(meta.title, formatTime(meta.duration_s), start);
    return;
  }
  await play(meta);
}

main().catch((error) => block('Playback failed', error.message ?? String(error)));
