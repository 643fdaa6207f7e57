// The captions menu of the watch page: the text tracks Shaka found in the manifest, "Off", and
// the viewer's last choice (a language, or off) applied to every video that has it.
//
// Shaka 5 shows a track once it is selected and stops showing it when `null` is selected.

import {h} from './layout.js';

const CHOICE_KEY = 'reelflow.captions';
const OFF = 'off';

function remembered() {
  try {
    return localStorage.getItem(CHOICE_KEY);
  } catch {
    // Storage refused (private mode): the choice lasts for this page only.
    return null;
  }
}

function remember(choice) {
  try {
    localStorage.setItem(CHOICE_KEY, choice);
  } catch {
    // As above: nothing to keep it in.
  }
}

const label = (track) => track.label || track.language || `Track ${track.id}`;

/** Render the menu into `root` for `player`'s text tracks; hidden when there are none. */
export function showCaptions(player, root) {
  const tracks = player.getTextTracks();
  if (!tracks.length) {
    root.hidden = true;
    return;
  }
  const select = h('select', {id: 'captions-select', 'aria-label': 'Captions'});
  select.append(h('option', {value: OFF}, 'Off'));
  for (const track of tracks) {
    select.append(h('option', {value: String(track.id), lang: track.language}, label(track)));
  }
  const apply = (value) => {
    const track = tracks.find((t) => String(t.id) === value);
    player.selectTextTrack(track ?? null);
    root.dataset.selected = track ? track.language : OFF;
    return root.dataset.selected;
  };
  select.addEventListener('change', () => remember(apply(select.value)));

  const choice = remembered();
  const preferred = tracks.find((t) => t.language === choice);
  select.value = preferred ? String(preferred.id) : OFF;
  apply(select.value);
  root.replaceChildren(h('label', {for: 'captions-select'}, 'Captions'), select);
  root.hidden = false;
}
