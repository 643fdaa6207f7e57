// Upload with a progress bar that survives interruptions.
//
// The upload session (where to send the bytes, and for S3 the ETags of the parts sent) is kept
// in localStorage. Pausing, a lost connection or a closed page all end the same way: the next
// attempt asks the API how many bytes it holds (HEAD on the signed URL) and goes on from there.
// After a reload the browser no longer has the file, so the visitor picks it again; its name,
// size and date must match.

import * as api from './api.js';
import {h, notify, renderAccount} from './layout.js';

const SESSION_KEY = 'reelflow.upload';
// Progress moves in steps of at most this much, even when the API accepts larger chunks.
const MAX_CHUNK_BYTES = 8 * 1024 * 1024;
const BUSY_RETRIES = 10;
const BUSY_WAIT_MS = 500;

const form = document.getElementById('upload');
const resumeForm = document.getElementById('resume');
const transferBox = document.getElementById('transfer');
const bar = document.getElementById('progress');
const barText = document.getElementById('progress-text');
const pauseButton = document.getElementById('pause');
const continueButton = document.getElementById('continue');

let controller = null;
let user = null;

const loadSession = () => JSON.parse(localStorage.getItem(SESSION_KEY) ?? 'null');
const saveSession = (session) => localStorage.setItem(SESSION_KEY, JSON.stringify(session));
const forgetSession = () => localStorage.removeItem(SESSION_KEY);

const megabytes = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const fingerprint = (file) => ({name: file.name, size: file.size, lastModified: file.lastModified});

function showProgress(done, total) {
  bar.max = total;
  bar.value = done;
  const percent = total ? Math.floor((done / total) * 100) : 0;
  barText.textContent = `${megabytes(done)} of ${megabytes(total)} (${percent}%)`;
}

async function sendLocal(session, file, signal) {
  let offset = await api.uploadOffset(session.uploadUrl);
  const chunkSize = Math.min(session.chunkSize, MAX_CHUNK_BYTES);
  let busy = 0;
  while (offset < file.size) {
    const end = Math.min(offset + chunkSize, file.size);
    const start = offset;
    try {
      const answer = await api.putBytes(session.uploadUrl, file.slice(start, end), {
        headers: {'Content-Range': `bytes ${start}-${end - 1}/${file.size}`},
        onProgress: (sent) => showProgress(start + sent, file.size),
        signal,
      });
      offset = Number(answer.get('Upload-Offset') ?? end);
    } catch (error) {
      if (error.code === 'upload_busy' && busy < BUSY_RETRIES) {
        // The API is still closing the chunk an interruption cut off.
        busy += 1;
        await new Promise((resolve) => setTimeout(resolve, BUSY_WAIT_MS));
      } else if (error.code !== 'offset_mismatch') {
        throw error;
      }
      // Ask where the upload stands now: another tab or a lost answer may have moved it.
      offset = await api.uploadOffset(session.uploadUrl);
    }
    showProgress(offset, file.size);
  }
}

async function sendS3(session, file, signal) {
  const size = session.chunkSize;
  const sent = () => Object.keys(session.etags).reduce(
    (total, number) => total + Math.min(size, file.size - (number - 1) * size), 0);
  for (const part of session.parts) {
    if (session.etags[part.part_number]) continue;
    const start = (part.part_number - 1) * size;
    const before = sent();
    const answer = await api.putBytes(part.url, file.slice(start, start + size), {
      headers: {'Content-Type': 'application/octet-stream'},
      onProgress: (bytes) => showProgress(before + bytes, file.size),
      signal,
    });
    session.etags[part.part_number] = answer.get('ETag');
    saveSession(session);
    showProgress(sent(), file.size);
  }
  return session.parts.map((part) => ({part_number: part.part_number, etag: session.etags[part.part_number]}));
}

async function transfer(session, file) {
  controller = new AbortController();
  form.hidden = true;
  resumeForm.hidden = true;
  transferBox.hidden = false;
  pauseButton.hidden = false;
  continueButton.hidden = true;
  notify(`Uploading ${file.name}…`);
  try {
    const send = session.method === 's3' ? sendS3 : sendLocal;
    const parts = await send(session, file, controller.signal);
    pauseButton.hidden = true;
    const video = await api.completeUpload(session.videoId, parts);
    forgetSession();
    showProgress(file.size, file.size);
    transferBox.dataset.videoId = video.id;
    notify(
      [
        'Uploaded. It is being processed now and will play on ',
        h('a', {href: `/watch.html?v=${video.id}`, id: 'watch-link'}, 'its watch page'),
        ' once ready.',
      ],
      'success',
    );
  } catch (error) {
    pauseButton.hidden = true;
    if (error.name === 'AbortError') {
      notify('Paused. Resume whenever you like, even after closing this page.');
      continueButton.hidden = false;
    } else if (error.code === 'upload_expired' || error.code === 'upload_closed') {
      forgetSession();
      notify(`${error.message}.`, 'error');
      form.hidden = false;
    } else {
      notify(`The upload was interrupted: ${error.message}. Resume to go on from where it stopped.`, 'error');
      continueButton.hidden = false;
    }
  } finally {
    controller = null;
  }
  continueButton.onclick = () => transfer(session, file);
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const data = new FormData(form);
  const file = data.get('file');
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    const ticket = await api.initiateUpload({
      title: data.get('title'),
      description: data.get('description'),
      tags: data.get('tags').split(',').map((tag) => tag.trim()).filter(Boolean),
      visibility: data.get('visibility'),
      size_bytes: file.size,
      content_type: file.type || 'application/octet-stream',
    });
    const session = {
      videoId: ticket.video_id,
      method: ticket.method,
      uploadUrl: ticket.upload_url,
      chunkSize: ticket.chunk_size,
      parts: ticket.parts,
      etags: {},
      file: fingerprint(file),
      owner: user.id,
    };
    saveSession(session);
    await transfer(session, file);
  } catch (error) {
    notify(error.message, 'error');
  } finally {
    button.disabled = false;
  }
});

pauseButton.addEventListener('click', () => controller?.abort());

function offerResume(session) {
  document.getElementById('resume-name').textContent = session.file.name;
  resumeForm.hidden = false;
  form.hidden = true;
  const done = document.getElementById('resume-done');
  if (session.method === 'local') {
    api.uploadOffset(session.uploadUrl).then(
      (offset) => {
        done.textContent = `${megabytes(offset)} of ${megabytes(session.file.size)}`;
      },
      (error) => {
        forgetSession();
        resumeForm.hidden = true;
        form.hidden = false;
        notify(`The interrupted upload cannot go on: ${error.message}.`, 'error');
      },
    );
  } else {
    done.textContent = `${Object.keys(session.etags).length} of ${session.parts.length} parts`;
  }
  resumeForm.elements.file.addEventListener('change', () => {
    const file = resumeForm.elements.file.files[0];
    const same = JSON.stringify(fingerprint(file)) === JSON.stringify(session.file);
    if (!same) {
      notify(`That is not ${session.file.name} (${megabytes(session.file.size)}).`, 'error');
      return;
    }
    transfer(session, file);
  });
  document.getElementById('discard').addEventListener('click', () => {
    forgetSession();
    resumeForm.hidden = true;
    form.hidden = false;
    notify('');
  });
}

async function main() {
  user = await renderAccount();
  if (!user) {
    form.hidden = true;
    notify([h('a', {href: '/login.html?next=/upload.html'}, 'Sign in'), ' to upload videos.']);
    return;
  }
  // Only the account that started an upload can complete it.
  const session = loadSession();
  if (session?.owner === user.id) offerResume(session);
}

main().catch((error) => notify(error.message, 'error'));
