// Full-text search; the query lives in the URL (`?q=`) so results can be linked and reloaded.

import * as api from './api.js';
import {notify, renderAccount, renderCards, videoCard} from './layout.js';

const form = document.getElementById('search');
const results = document.getElementById('results');
const more = document.getElementById('more');
const summary = document.getElementById('summary');
let page = 1;

async function show(q, pageNumber) {
  const found = await api.search(q, pageNumber);
  if (pageNumber === 1) {
    summary.textContent = q ? `Results for “${q}”` : 'Newest videos';
    renderCards(results, found.items, 'No video matches.');
  } else {
    results.append(...found.items.map(videoCard));
  }
  page = pageNumber;
  more.hidden = !found.has_more;
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const q = new FormData(form).get('q').trim();
  history.replaceState(null, '', q ? `?q=${encodeURIComponent(q)}` : location.pathname);
  show(q, 1).catch((error) => notify(error.message, 'error'));
});

more.addEventListener('click', () => {
  show(form.elements.q.value.trim(), page + 1).catch((error) => notify(error.message, 'error'));
});

const initial = new URLSearchParams(location.search).get('q') ?? '';
form.elements.q.value = initial;
renderAccount().catch((error) => notify(error.message, 'error'));
show(initial, 1).catch((error) => notify(error.message, 'error'));
