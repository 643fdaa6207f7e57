// Home: the signed-in viewer's feed, page by page, and what is trending.

import * as api from './api.js';
import {h, notify, renderAccount, renderCards, videoCard} from './layout.js';

async function showFeed() {
  const section = document.getElementById('feed-section');
  const list = document.getElementById('feed');
  const more = document.getElementById('more');
  section.hidden = false;
  let cursor = null;
  const load = async () => {
    more.disabled = true;
    const page = await api.feed(cursor);
    if (cursor === null) renderCards(list, page.items, 'Nothing new to watch right now.');
    else list.append(...page.items.map(videoCard));
    cursor = page.next_cursor;
    more.hidden = cursor === null;
    more.disabled = false;
  };
  more.addEventListener('click', () => load().catch((error) => notify(error.message, 'error')));
  await load();
}

async function showTrending() {
  const ranking = await api.trending();
  renderCards(
    document.getElementById('trending'),
    ranking.items.map((item) => item.video),
    'Nothing is trending yet.',
  );
}

async function main() {
  const user = await renderAccount();
  if (user) await showFeed();
  else notify([h('a', {href: '/login.html'}, 'Sign in'), ' to see your feed.']);
  await showTrending();
}

main().catch((error) => notify(error.message, 'error'));
