// What every page shares: the account corner of the header, video cards, small DOM helpers.

import * as api from './api.js';

/** An element: `h('a', {href: '/'}, 'Home')`; children are nodes or strings. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (name === 'dataset') Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? '' : value);
  }
  element.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return element;
}

export function formatTime(seconds) {
  if (!Number.isFinite(seconds)) return '';
  const total = Math.floor(seconds);
  const s = String(total % 60).padStart(2, '0');
  const m = Math.floor(total / 60) % 60;
  const hours = Math.floor(total / 3600);
  return hours ? `${hours}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** Show `content` (text, or an array of nodes) in the page's message box; empty hides it.
 * `kind` is info, error or success. */
export function notify(content, kind = 'info') {
  const box = document.getElementById('message');
  const parts = [].concat(content);
  box.replaceChildren(...parts);
  box.className = `message ${kind}`;
  box.hidden = !parts.some((part) => part !== '');
}

/** Run `handler(formData)` when `form` is submitted, its submit button disabled meanwhile; a
 * failure is shown in the message box. */
export function onSubmit(form, handler) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      await handler(new FormData(form));
    } catch (error) {
      notify(error.message, 'error');
    } finally {
      button.disabled = false;
    }
  });
}

/** The header's account corner: who is signed in and a sign-out button, or a sign-in link. */
export async function renderAccount() {
  const corner = document.getElementById('account');
  if (!api.signedIn()) {
    corner.replaceChildren(h('a', {href: '/login.html', class: 'button'}, 'Sign in'));
    return null;
  }
  let user = null;
  try {
    user = await api.me();
  } catch (error) {
    if (error.status !== 401) throw error;
  }
  if (!user) {
    corner.replaceChildren(h('a', {href: '/login.html', class: 'button'}, 'Sign in'));
    return null;
  }
  const signOut = h('button', {type: 'button', id: 'sign-out', class: 'link'}, 'Sign out');
  signOut.addEventListener('click', async () => {
    await api.signOut();
    location.assign('/login.html');
  });
  const nav = document.querySelector('header.top nav');
  if (!nav?.querySelector('a[href="/playlists.html"]')) {
    nav?.append(h('a', {href: '/playlists.html'}, 'Playlists'));
  }
  if (['creator', 'admin'].includes(user.role) && !nav?.querySelector('a[href="/dashboard.html"]')) {
    nav?.append(h('a', {href: '/dashboard.html'}, 'Dashboard'));
  }
  const who = h('span', {class: 'who'}, user.email);
  if (user.subscription_status === 'active') {
    corner.replaceChildren(who, h('span', {class: 'badge premium'}, 'Premium'), signOut);
  } else {
    corner.replaceChildren(who, signOut);
  }
  return user;
}

// Why the feed shows a video (`reason` of feed items); recent ones need no label.
const REASONS = {for_you: 'For you', trending: 'Trending'};

/** A card linking to the watch page. Posters show only when the URL is a signed CDN one. */
export function videoCard(card) {
  const thumb = card.thumbnail_url && card.thumbnail_url.includes('/cdn/t/')
    ? h('img', {src: card.thumbnail_url, alt: '', loading: 'lazy'})
    : h('span', {class: 'initial'}, card.title.slice(0, 1).toUpperCase());
  return h(
    'a',
    {href: `/watch.html?v=${card.id}`, class: 'card', dataset: {videoId: card.id}},
    h('span', {class: 'thumb'}, thumb, h('span', {class: 'duration'}, formatTime(card.duration_s))),
    h('span', {class: 'title'}, card.title),
    h(
      'span',
      {class: 'meta'},
      card.visibility === 'premium' ? h('span', {class: 'badge premium'}, 'Premium') : null,
      REASONS[card.reason] ? h('span', {class: 'badge reason'}, REASONS[card.reason]) : null,
      ...card.tags.slice(0, 3).map((tag) => h('span', {class: 'tag'}, tag)),
    ),
  );
}

/** Fill `list` with cards, or with `empty` when there are none. */
export function renderCards(list, cards, empty) {
  list.replaceChildren(...(cards.length ? cards.map(videoCard) : [h('p', {class: 'empty'}, empty)]));
}
