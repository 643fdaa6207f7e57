// The one client of the Reelflow API the pages share: JSON requests, errors with the API's
// stable `code`, and the JWT session (access + refresh token) kept in localStorage.

const API = '/api/v1';
const SESSION_KEY = 'reelflow.session';
// Renew the access token this long before it lapses, so a request never races its expiry.
const RENEW_MARGIN_MS = 30_000;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }

  static async of(response) {
    let body = {};
    try {
      body = await response.json();
    } catch {
      // Not our JSON error (a proxy, a network failure page): the status says enough.
    }
    let message = body.message ?? (response.statusText || `HTTP ${response.status}`);
    if (body.details?.length) {
      // Validation errors name the fields at fault; people need those, not just "not valid".
      message += ': ' + body.details.map((d) => `${d.loc.at(-1)} ${d.msg}`).join('; ');
    }
    return new ApiError(response.status, body.code ?? 'http_' + response.status, message);
  }
}

function loadSession() {
  try {
    return JSON.parse(localStorage.getItem(SESSION_KEY));
  } catch {
    return null;
  }
}

function saveSession(tokens) {
  const session = {
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token,
    expiresAt: Date.now() + tokens.expires_in * 1000,
  };
  localStorage.setItem(SESSION_KEY, JSON.stringify(session));
  return session;
}

export function forgetSession() {
  localStorage.removeItem(SESSION_KEY);
}

export function signedIn() {
  return loadSession() !== null;
}

let renewing = null;

async function exchange(stale) {
  const session = loadSession();
  // Another tab renewed it meanwhile (or signed out): nothing to spend.
  if (!session || session.accessToken !== stale) return session;
  const response = await fetch(`${API}/auth/refresh`, {
    method: 'POST',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({refresh_token: session.refreshToken}),
  });
  if (!response.ok) {
    forgetSession();
    return null;
  }
  return saveSession(await response.json());
}

/**
 * Replace the session whose access token is `stale`. A refresh token works once, and using it
 * twice signs the account out everywhere: callers in this tab share one renewal, and tabs
 * take turns (Web Locks) so that only the first spends it.
 */
function renew(stale) {
  renewing ??= (navigator.locks
    ? navigator.locks.request(SESSION_KEY, () => exchange(stale))
    : exchange(stale)
  ).finally(() => {
    renewing = null;
  });
  return renewing;
}

/** A valid access token (renewed if about to lapse), or null when signed out. */
export async function accessToken() {
  let session = loadSession();
  if (session && session.expiresAt - RENEW_MARGIN_MS < Date.now()) {
    session = await renew(session.accessToken);
  }
  return session ? session.accessToken : null;
}

async function send(method, path, body, keepalive) {
  const headers = {};
  const token = await accessToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(API + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    keepalive,
  });
  return {response, token};
}

/** Call the API; resolves to the JSON body (null for 204), rejects with an ApiError. */
export async function request(method, path, {body, keepalive = false} = {}) {
  let {response, token} = await send(method, path, body, keepalive);
  if (response.status === 401 && token && (await renew(token))) {
    // The access token was refused before its time (a clock off, a rotated key): one retry.
    ({response} = await send(method, path, body, keepalive));
  }
  if (!response.ok) throw await ApiError.of(response);
  return response.status === 204 ? null : response.json();
}

function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.append(name, value);
  }
  const text = search.toString();
  return text ? '?' + text : '';
}

// Accounts

export async function signIn(email, password) {
  const response = await fetch(`${API}/auth/login`, {
    method: 'POST',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({email, password}),
  });
  if (!response.ok) throw await ApiError.of(response);
  saveSession(await response.json());
}

/** Ask for an account: a link that creates it is mailed to the address. */
export function register(account) {
  return request('POST', '/users/register', {body: account});
}

/** Create the account of a mailed registration link's token. */
export function confirmRegistration(token) {
  return request('POST', '/users/register/confirm', {body: {token}});
}

/** Ask for a password reset link by mail. */
export function requestPasswordReset(email) {
  return request('POST', '/auth/password-reset', {body: {email}});
}

/** Set a new password with a mailed reset link's token. */
export function resetPassword(token, newPassword) {
  return request('POST', '/auth/password-reset/confirm', {body: {token, new_password: newPassword}});
}

export async function signOut() {
  const session = loadSession();
  try {
    if (session) await request('POST', '/auth/logout', {body: {refresh_token: session.refreshToken}});
  } finally {
    forgetSession();
  }
}

export const me = () => request('GET', '/users/me');

// Videos

export const feed = (cursor) => request('GET', '/videos/feed' + query({cursor}));
export const trending = () => request('GET', '/videos/trending');
export const search = (q, page = 1) => request('GET', '/search' + query({q, page}));
export const video = (id) => request('GET', `/videos/${encodeURIComponent(id)}`);
export const similar = (id) => request('GET', `/videos/${encodeURIComponent(id)}/similar`);

// Watching

export const history = () => request('GET', '/users/me/history?limit=50');
export const reportWatch = (id, report, keepalive = false) =>
  request('POST', `/videos/${encodeURIComponent(id)}/watch`, {body: report, keepalive});

// Uploads

export const initiateUpload = (fields) => request('POST', '/videos/upload/initiate', {body: fields});
export const completeUpload = (id, parts) =>
  request('POST', `/videos/${encodeURIComponent(id)}/upload/complete`, {
    body: parts ? {parts} : undefined,
  });

/** Bytes of a local (resumable) upload the API already holds: where to resume. */
export async function uploadOffset(uploadUrl) {
  const response = await fetch(uploadUrl, {method: 'HEAD', cache: 'no-store'});
  if (response.ok) return Number(response.headers.get('Upload-Offset'));
  // A HEAD answer has no body: its status is the whole story.
  const refusals = {
    409: ['upload_closed', 'the upload is already closed'],
    410: ['upload_expired', 'the upload has expired; start a new one'],
  };
  const [code, message] = refusals[response.status] ?? [
    'http_' + response.status,
    `the upload URL was refused (HTTP ${response.status})`,
  ];
  throw new ApiError(response.status, code, message);
}

/**
 * PUT `blob` to `url` with progress events (fetch has none for uploads): `onProgress(bytes)`.
 * Resolves to the response headers; `signal` aborts it.
 */
export function putBytes(url, blob, {headers = {}, onProgress, signal}) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new DOMException('upload paused', 'AbortError'));
      return;
    }
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', url);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => onProgress?.(event.loaded);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve({get: (name) => xhr.getResponseHeader(name)});
        return;
      }
      let body = {};
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // S3 answers errors in XML.
      }
      reject(new ApiError(xhr.status, body.code ?? 'http_' + xhr.status, body.message ?? `HTTP ${xhr.status}`));
    };
    xhr.onerror = () => reject(new ApiError(0, 'network_error', 'the connection was lost'));
    xhr.onabort = () => reject(new DOMException('upload paused', 'AbortError'));
    signal?.addEventListener('abort', () => xhr.abort(), {once: true});
    xhr.send(blob);
  });
}
