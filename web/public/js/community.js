// The watch page's community controls: like and dislike with their counts and the viewer's own
// rating, and saving the video to watch later or one of the viewer's playlists.

import * as api from './api.js';
import {h, notify} from './layout.js';

const WATCH_LATER = 'watch-later';

function signInUrl() {
  return `/login.html?next=${encodeURIComponent(location.pathname + location.search)}`;
}

function ratingUrl(videoId) {
  return `/videos/${encodeURIComponent(videoId)}/rating`;
}

/** Render the controls of video `meta` into `#community`. */
export async function showCommunity(meta) {
  const box = document.getElementById('community');
  if (!box) return;
  let state = {value: null, likes: meta.likes ?? 0, dislikes: meta.dislikes ?? 0};
  // Set once the viewer has rated here: a slower read of their earlier rating must not undo it.
  let acted = false;

  const like = h('button', {type: 'button', id: 'like', class: 'secondary rate'});
  const dislike = h('button', {type: 'button', id: 'dislike', class: 'secondary rate'});
  const render = () => {
    like.replaceChildren('Like ', h('span', {class: 'count', id: 'likes'}, String(state.likes)));
    dislike.replaceChildren(
      'Dislike ',
      h('span', {class: 'count', id: 'dislikes'}, String(state.dislikes)),
    );
    like.setAttribute('aria-pressed', String(state.value === 'like'));
    dislike.setAttribute('aria-pressed', String(state.value === 'dislike'));
  };
  const rate = async (value) => {
    if (!api.signedIn()) {
      location.assign(signInUrl());
      return;
    }
    acted = true;
    like.disabled = dislike.disabled = true;
    try {
      state = state.value === value
        ? await api.request('DELETE', ratingUrl(meta.id))
        : await api.request('PUT', ratingUrl(meta.id), {body: {value}});
      render();
    } catch (error) {
      notify(error.message, 'error');
    } finally {
      like.disabled = dislike.disabled = false;
    }
  };
  like.addEventListener('click', () => rate('like'));
  dislike.addEventListener('click', () => rate('dislike'));
  render();
  box.replaceChildren(like, dislike, await saveControls(meta));

  if (api.signedIn()) {
    try {
      const mine = await api.request('GET', ratingUrl(meta.id));
      if (!acted) {
        state = mine;
        render();
      }
    } catch (error) {
      // The counts from the metadata stay; only the viewer's own state is missing.
      console.warn('no rating:', error.message);
    }
  }
}

/** A list to pick (watch later or one of the viewer's playlists) and a Save button. */
async function saveControls(meta) {
  if (!api.signedIn()) {
    return h('a', {class: 'button secondary', id: 'save', href: signInUrl()}, 'Save');
  }
  const target = h(
    'select',
    {id: 'save-to', 'aria-label': 'Save to'},
    h('option', {value: WATCH_LATER}, 'Watch later'),
  );
  try {
    const {items} = await api.request('GET', '/users/me/playlists?page_size=100');
    for (const list of items) {
      if (list.kind === 'user') target.append(h('option', {value: list.id}, list.title));
    }
  } catch (error) {
    console.warn('no playlists:', error.message);
  }
  const save = h('button', {type: 'button', id: 'save', class: 'secondary'}, 'Save');
  save.addEventListener('click', async () => {
    const name = target.selectedOptions[0].textContent;
    const path = target.value === WATCH_LATER
      ? '/users/me/watch-later'
      : `/playlists/${encodeURIComponent(target.value)}/items`;
    save.disabled = true;
    try {
      await api.request('POST', path, {body: {video_id: meta.id}});
      notify(`Saved to ${name}.`, 'success');
    } catch (error) {
      if (error.code === 'already_in_playlist') notify(`Already in ${name}.`, 'info');
      else notify(error.message, 'error');
    } finally {
      save.disabled = false;
    }
  });
  return h('span', {class: 'save'}, target, save);
}
