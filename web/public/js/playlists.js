// The playlists page: the viewer's lists (watch later first), creating, renaming, sharing and
// deleting them, and one list's videos with remove and move up/down. `?list=<id>` opens a list;
// a public one opens for anyone, signed in or not, read-only unless it is the reader's own.

import * as api from './api.js';
import {h, notify, onSubmit, renderAccount, videoCard} from './layout.js';

const params = new URLSearchParams(location.search);
const lists = document.getElementById('lists');
const items = document.getElementById('items');
const tools = document.getElementById('list-tools');

const playlistUrl = (id) => `/playlists/${encodeURIComponent(id)}`;
const itemUrl = (listId, videoId) => `${playlistUrl(listId)}/items/${encodeURIComponent(videoId)}`;

let me = null;
let openId = params.get('list');

function open(id) {
  openId = id;
  history.replaceState(null, '', `?list=${encodeURIComponent(id)}`);
  return refresh();
}

async function showLists() {
  if (!me) return;
  // Watch later exists once used: reading it makes it, so it is always on the page.
  const later = await api.request('GET', '/users/me/watch-later?page_size=1');
  const {items: mine} = await api.request('GET', '/users/me/playlists?page_size=100');
  openId ??= later.playlist.id;
  lists.replaceChildren(
    ...mine.map((list) =>
      h(
        'li',
        {'aria-current': String(list.id === openId), dataset: {playlistId: list.id}},
        h('a', {href: `?list=${list.id}`, onclick: (event) => {
          event.preventDefault();
          open(list.id).catch((error) => notify(error.message, 'error'));
        }}, list.title),
        h('span', {class: 'status-line'}, `${list.item_count} · ${list.visibility}`),
      ),
    ),
  );
  document.getElementById('mine').hidden = false;
}

async function showList() {
  const section = document.getElementById('list');
  if (!openId) {
    section.hidden = true;
    return;
  }
  let page;
  try {
    page = await api.request('GET', `${playlistUrl(openId)}?page_size=100`);
  } catch (error) {
    if (error.status !== 404) throw error;
    section.hidden = true;
    notify('No such playlist, or it is private.', 'error');
    return;
  }
  const {playlist} = page;
  const own = me !== null && playlist.owner_id === me.id;
  document.title = `${playlist.title} · Reelflow`;
  document.getElementById('list-title').textContent = playlist.title;
  document.getElementById('list-meta').textContent =
    `${playlist.item_count} videos · ${playlist.visibility}` +
    (playlist.description ? ` · ${playlist.description}` : '');
  tools.replaceChildren(...(own && playlist.kind === 'user' ? listTools(playlist) : []));
  items.replaceChildren(
    ...(page.items.length
      ? page.items.map((item, index) =>
          h(
            'li',
            {dataset: {videoId: item.video.id}},
            videoCard(item.video),
            own ? itemTools(playlist, item, index, page.items.length) : null,
          ),
        )
      : [h('li', {class: 'empty'}, 'No videos yet.')]),
  );
  section.hidden = false;
}

function act(action) {
  return async () => {
    try {
      await action();
      await refresh();
    } catch (error) {
      notify(error.message, 'error');
    }
  };
}

function listTools(playlist) {
  const title = h('input', {id: 'rename-title', value: playlist.title, maxlength: 200,
    'aria-label': 'Title'});
  const publicNext = playlist.visibility === 'public' ? 'private' : 'public';
  return [
    title,
    h('button', {type: 'button', id: 'rename', class: 'secondary', onclick: act(() =>
      api.request('PATCH', playlistUrl(playlist.id), {body: {title: title.value}}))}, 'Rename'),
    h('button', {type: 'button', id: 'visibility', class: 'secondary', onclick: act(() =>
      api.request('PATCH', playlistUrl(playlist.id), {body: {visibility: publicNext}}))},
      `Make ${publicNext}`),
    h('button', {type: 'button', id: 'delete', class: 'secondary', onclick: act(async () => {
      if (!confirm(`Delete “${playlist.title}”?`)) return;
      await api.request('DELETE', playlistUrl(playlist.id));
      openId = null;
      history.replaceState(null, '', location.pathname);
    })}, 'Delete'),
    playlist.visibility === 'public'
      ? h('a', {href: `/playlists.html?list=${playlist.id}`, id: 'share'}, 'Link to share')
      : null,
  ];
}

function itemTools(playlist, item, index, count) {
  const move = (position) => act(() =>
    api.request('PATCH', itemUrl(playlist.id, item.video.id), {body: {position}}));
  return h(
    'span',
    {class: 'playlist-tools'},
    h('button', {type: 'button', class: 'secondary up', disabled: index === 0,
      onclick: move(item.position - 1)}, 'Up'),
    h('button', {type: 'button', class: 'secondary down', disabled: index === count - 1,
      onclick: move(item.position + 1)}, 'Down'),
    h('button', {type: 'button', class: 'secondary remove', onclick: act(() =>
      api.request('DELETE', itemUrl(playlist.id, item.video.id)))}, 'Remove'),
  );
}

async function refresh() {
  await showLists();
  await showList();
}

async function main() {
  me = await renderAccount().catch((error) => {
    notify(error.message, 'error');
    return null;
  });
  if (!me && !openId) {
    notify([h('a', {href: '/login.html?next=/playlists.html'}, 'Sign in'), ' to see your playlists.']);
    return;
  }
  onSubmit(document.getElementById('create'), async (form) => {
    const created = await api.request('POST', '/playlists', {
      body: {title: form.get('title'), visibility: form.get('public') ? 'public' : 'private'},
    });
    document.getElementById('create').reset();
    await open(created.id);
  });
  await refresh();
}

main().catch((error) => notify(error.message, 'error'));
