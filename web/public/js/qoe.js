// Playback quality (QoE) reports to `POST /playback/events`, the way Mux Data collects them.
//
// One session per playback: `session_start` when play is requested (t = 0, every later `t` is
// milliseconds since then on the page's monotonic clock), `first_frame`, stalls after it
// (`rebuffer_start`/`rebuffer_end`, seeks left out), `rendition_switch`, `fatal_error`, and
// `heartbeat`/`end` with the seconds played since the previous one, all at one bitrate: a
// heartbeat goes out just before each switch. Leaving before the first frame is
// `exit_before_start`. Events are queued and sent every 10 s, when the queue grows, and with
// `navigator.sendBeacon` when the page is hidden for good. Reporting never stops playback:
// every failure here is swallowed, and a refused batch (4xx) is dropped, not retried.

import * as api from './api.js';

const FLUSH_EVERY_MS = 10_000;
const FLUSH_AT = 20;
const MAX_BATCH = 100;
// Events kept while the API cannot be reached; the oldest go first beyond it.
const MAX_QUEUED = 500;
const ENDPOINT = '/playback/events';

function randomUuid() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Start a QoE session for `videoId` played by Shaka `player` in `video`; returns hooks the
 * page calls for what only it knows (a fatal error). */
export function trackQuality(player, video, videoId) {
  const sessionId = randomUuid();
  const origin = performance.now();
  let seq = 0;
  let queue = [];
  let sending = false;
  let firstFrame = false;
  let failed = false;
  let over = false;
  let stalled = false;
  let kbps = null;
  let playingSince = null;
  let playedMs = 0;

  const now = () => Math.max(0, Math.round(performance.now() - origin));
  const push = (type, values = {}, t = now()) => {
    if (over) return;
    queue.push({session_id: sessionId, video_id: videoId, type, seq: seq++, t, ...values});
    if (queue.length > MAX_QUEUED) queue = queue.slice(-MAX_QUEUED);
    if (queue.length >= FLUSH_AT) flush();
  };

  // Wall-clock seconds of actual playback: not paused, stalled or seeking.
  const stopClock = () => {
    if (playingSince !== null) playedMs += performance.now() - playingSince;
    playingSince = null;
  };
  const startClock = () => {
    if (playingSince === null && firstFrame && !video.paused && !stalled && !video.seeking) {
      playingSince = performance.now();
    }
  };
  const played = (type) => {
    stopClock();
    const seconds = Math.round(playedMs) / 1000;
    playedMs = 0;
    startClock();
    if (type === 'heartbeat' && seconds === 0) return;
    push(type, kbps === null ? {playing_s: seconds} : {playing_s: seconds, bitrate_kbps: kbps});
  };

  const activeKbps = () => {
    const track = player.getVariantTracks().find((variant) => variant.active);
    return track?.bandwidth ? track.bandwidth / 1000 : null;
  };
  const onVariant = () => {
    const next = activeKbps();
    if (next === null || next === kbps) return;
    if (kbps !== null) {
      played('heartbeat');
      push('rendition_switch', {bitrate_kbps: next});
    }
    kbps = next;
  };

  const onFirstFrame = () => {
    if (firstFrame || failed) return;
    firstFrame = true;
    push('first_frame');
    kbps ??= activeKbps();
    startClock();
  };

  push('session_start', {}, 0);
  video.addEventListener('playing', () => {
    if (firstFrame) {
      startClock();
      return;
    }
    // The frame callback fires when the frame is actually presented, later than 'playing'.
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(onFirstFrame);
    else onFirstFrame();
  });
  // Where frame callbacks never come (a hidden or unrendered video), the clock moving will do.
  video.addEventListener('timeupdate', () => {
    if (!firstFrame && !video.paused && video.currentTime > 0) onFirstFrame();
  });
  for (const type of ['pause', 'seeking', 'waiting']) video.addEventListener(type, stopClock);
  video.addEventListener('seeked', startClock);
  video.addEventListener('ended', () => {
    played('end');
    over = true;
    flush();
  });
  player.addEventListener('buffering', (event) => {
    if (!firstFrame || over) return;
    if (event.buffering && !stalled && !video.seeking) {
      stalled = true;
      stopClock();
      push('rebuffer_start');
    } else if (!event.buffering && stalled) {
      stalled = false;
      push('rebuffer_end');
      startClock();
    }
  });
  player.addEventListener('adaptation', onVariant);
  player.addEventListener('variantchanged', onVariant);

  async function flush() {
    if (sending || !queue.length) return;
    sending = true;
    const batch = queue.splice(0, MAX_BATCH);
    try {
      await api.request('POST', ENDPOINT, {body: {events: batch}});
    } catch (error) {
      // Unreachable, rate limited or unavailable: try again with the next flush.
      if (!error.status || error.status === 429 || error.status >= 500) {
        queue = [...batch, ...queue].slice(-MAX_QUEUED);
      }
    } finally {
      sending = false;
    }
  }

  const timer = setInterval(() => {
    if (firstFrame && !over) played('heartbeat');
    flush();
  }, FLUSH_EVERY_MS);

  window.addEventListener('pagehide', () => {
    if (!over) {
      if (firstFrame) played('end');
      else if (!failed) push('exit_before_start');
      over = true;
    }
    clearInterval(timer);
    // A beacon outlives the page, but carries no token: the API takes anonymous reports.
    while (queue.length) {
      const events = queue.splice(0, MAX_BATCH);
      const body = new Blob([JSON.stringify({events})], {type: 'application/json'});
      navigator.sendBeacon(`/api/v1${ENDPOINT}`, body);
    }
  });

  return {
    /** Playback stopped on an error the player could not recover from. */
    failed(error) {
      if (failed || over) return;
      failed = true;
      const code = String(error?.code ?? 'unknown').replace(/[^A-Za-z0-9_.:-]/g, '_');
      push('fatal_error', {code: code.slice(0, 64) || 'unknown'});
      flush();
    },
  };
}
