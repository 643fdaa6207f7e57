// The secret of a link that came by mail: in the fragment (`#token=…`), which browsers never
// send to a server. It is taken off the address bar at once, so that it stays out of the
// history and of what is shared or bookmarked.

export function takeToken() {
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  if (token) history.replaceState(null, '', location.pathname + location.search);
  return token;
}

// A link opened on its own page already (the same page, another fragment) loads no new page:
// read it as one.
window.addEventListener('hashchange', () => location.reload());
