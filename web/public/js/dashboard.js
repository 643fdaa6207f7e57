// The creators' and admins' dashboard: a video's or the channel's daily figures over a range of
// UTC days, drawn with uPlot (the npm package, served by the API under /vendor/uplot/), and the
// range's totals. The range and the scope live in the address (?scope=&from=&to=), so a view
// can be shared or reloaded.

import uPlot from '/vendor/uplot/uPlot.esm.js';
import * as api from './api.js';
import {formatTime, h, notify, renderAccount} from './layout.js';

const DAY_MS = 86_400_000;
const DAY_S = 86_400;
// Ticks of the day axis, whole days apart whatever the range's length.
const DAY_TICKS = [1, 2, 7, 14, 28, 91, 182].map((days) => days * DAY_S);
const DEFAULT_DAYS = 28;
const CHART_HEIGHT = 220;
const COLOURS = ['#4f8cff', '#4cc38a', '#f2b233', '#ff6b6b'];

const form = document.getElementById('controls');
const scopeSelect = document.getElementById('scope');
const fromInput = document.getElementById('from');
const toInput = document.getElementById('to');
const figuresBox = document.getElementById('figures');
const missingLine = document.getElementById('missing');
const charts = new Map();

const count = new Intl.NumberFormat('en-US');
const show = (value, format) => (value === null || value === undefined ? '—' : format(value));
const percent = (digits) => (value) => `${(value * 100).toFixed(digits)} %`;
const ms = (value) => `${count.format(Math.round(value))} ms`;
const kbps = (value) => `${count.format(Math.round(value))} kbps`;

// The rows of the totals table: the API's field, what it is called here, how it is shown.
const TOTALS = [
  ['views', 'Views', count.format],
  ['unique_viewers_summed', 'Unique viewers (sum of the daily counts)', count.format],
  ['watched_s', 'Watch time', formatTime],
  ['avg_completion', 'Average completion', percent(1)],
  ['likes', 'Likes at the end of the range', count.format],
  ['dislikes', 'Dislikes at the end of the range', count.format],
  ['likes_added', 'Likes given', count.format],
  ['dislikes_added', 'Dislikes given', count.format],
  ['playlist_adds', 'Added to playlists', count.format],
  ['plays', 'Plays', count.format],
  ['video_start_failures', 'Video start failures', count.format],
  ['exits_before_start', 'Exits before start', count.format],
  ['ttff_median_ms', 'Time to first frame, median', ms],
  ['ttff_p95_ms', 'Time to first frame, 95th percentile', ms],
  ['rebuffer_ratio', 'Rebuffering ratio', percent(2)],
  ['avg_bitrate_kbps', 'Average bitrate', kbps],
  ['rendition_switches', 'Rendition switches', count.format],
];

// Each chart: its element, and its series as [field, label, scale, transform].
const CHARTS = [
  ['chart-views', [
    ['views', 'Views', 'count'],
    ['unique_viewers', 'Unique viewers', 'count'],
    ['watched_s', 'Watch time (h)', 'hours', (s) => s / 3600],
  ]],
  ['chart-completion', [['avg_completion', 'Average completion (%)', '%', (r) => r * 100]]],
  ['chart-ratings', [
    ['likes', 'Likes', 'count'],
    ['dislikes', 'Dislikes', 'count'],
    ['playlist_adds', 'Playlist adds', 'count'],
  ]],
  ['chart-ttff', [
    ['ttff_median_ms', 'Median (ms)', 'ms'],
    ['ttff_p95_ms', '95th percentile (ms)', 'ms'],
  ]],
  ['chart-rebuffering', [['rebuffer_ratio', 'Rebuffering (%)', '%', (r) => r * 100]]],
  ['chart-bitrate', [['avg_bitrate_kbps', 'Average bitrate (kbps)', 'kbps']]],
];

const isoDay = (time) => new Date(time).toISOString().slice(0, 10);

function defaultRange() {
  const now = new Date();
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  // Yesterday is the last day the pipeline has aggregated by the morning.
  return {from: isoDay(today - DEFAULT_DAYS * DAY_MS), to: isoDay(today - DAY_MS)};
}

function reportPath(scope, from, to) {
  const range = `?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
  if (scope === 'channel') return `/analytics/channels/me${range}`;
  if (scope === 'overall') return `/analytics/overview${range}`;
  return `/analytics/videos/${encodeURIComponent(scope)}${range}`;
}

function fillScopes(videos, admin, chosen) {
  const options = [h('option', {value: 'channel'}, 'Whole channel')];
  for (const video of videos) options.push(h('option', {value: video.id}, video.title));
  if (admin) options.push(h('option', {value: 'overall'}, 'Every video (platform)'));
  scopeSelect.replaceChildren(...options);
  const known = [...scopeSelect.options].some((option) => option.value === chosen);
  // An admin may open any video by its id, in the channel list or not.
  if (!known && chosen) scopeSelect.append(h('option', {value: chosen}, chosen));
  scopeSelect.value = chosen || 'channel';
}

function renderTotals(totals) {
  const rows = TOTALS.map(([field, label, format]) => {
    let text = show(totals[field], format);
    if ((field === 'likes' || field === 'dislikes') && totals.ratings_as_of) {
      text += ` (${totals.ratings_as_of})`;
    }
    return h('tr', {dataset: {figure: field}}, h('th', {scope: 'row'}, label), h('td', {}, text));
  });
  document.querySelector('#totals tbody').replaceChildren(...rows);
}

function renderMissing(daysMissing, dayCount) {
  const parts = Object.entries(daysMissing)
    .filter(([, days]) => days.length)
    .map(([dataset, days]) => `${dataset}: ${days.length} of ${dayCount} days`);
  missingLine.textContent = parts.length ? `Not aggregated yet — ${parts.join('; ')}.` : '';
  missingLine.hidden = !parts.length;
}

function chartOptions(series, width) {
  const scales = [...new Set(series.map(([, , scale]) => scale))];
  return {
    width,
    height: CHART_HEIGHT,
    // The days are UTC days: label them so whatever the browser's time zone.
    tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), 'Etc/UTC'),
    scales: {
      x: {time: true},
      // Every figure is a count, a duration or a ratio: its axis starts at zero.
      ...Object.fromEntries(
        scales.map((scale) => [scale, {range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1]}]),
      ),
    },
    series: [
      {label: 'Day', value: (u, seconds) => (seconds === null ? '' : isoDay(seconds * 1000))},
      ...series.map(([, label, scale], n) => ({
        label,
        scale,
        stroke: COLOURS[n % COLOURS.length],
        width: 2,
        points: {show: true},
      })),
    ],
    axes: [
      {
        stroke: '#9aa3b2',
        grid: {stroke: '#2a2f3a'},
        incrs: DAY_TICKS,
        values: (u, ticks) => ticks.map((seconds) => isoDay(seconds * 1000).slice(5)),
      },
      ...scales.map((scale, n) => ({
        scale,
        side: n === 0 ? 3 : 1,
        stroke: '#9aa3b2',
        grid: {show: n === 0, stroke: '#2a2f3a'},
      })),
    ],
  };
}

function renderCharts(days) {
  const xs = days.map((day) => Date.parse(`${day.day}T00:00:00Z`) / 1000);
  for (const [id, series] of CHARTS) {
    const box = document.getElementById(id);
    charts.get(id)?.destroy();
    const data = [
      xs,
      ...series.map(([field, , , transform = (value) => value]) =>
        days.map((day) => (day[field] === null ? null : transform(day[field]))),
      ),
    ];
    const chart = new uPlot(chartOptions(series, Math.max(box.clientWidth, 320)), data, box);
    // The browser tests read what was drawn from here.
    box.uplot = chart;
    charts.set(id, chart);
  }
}

async function showReport(scope, from, to) {
  const report = await api.request('GET', reportPath(scope, from, to));
  figuresBox.hidden = false;
  renderTotals(report.totals);
  renderMissing(report.days_missing, report.days.length);
  renderCharts(report.days);
  figuresBox.dataset.scope = scope;
  return report;
}

async function start() {
  const user = await renderAccount();
  if (!user) {
    const next = encodeURIComponent(location.pathname + location.search);
    notify([h('a', {href: `/login.html?next=${next}`}, 'Sign in'), ' to see your dashboard.']);
    return;
  }
  if (user.role !== 'creator' && user.role !== 'admin') {
    notify('The dashboard shows the figures of your videos: it is for creator accounts.');
    return;
  }
  const params = new URLSearchParams(location.search);
  const range = defaultRange();
  fromInput.value = params.get('from') || range.from;
  toInput.value = params.get('to') || range.to;
  const channel = await api.request('GET', reportPath('channel', fromInput.value, toInput.value));
  fillScopes(channel.videos, user.role === 'admin', params.get('scope'));
  form.hidden = false;
  await showReport(scopeSelect.value, fromInput.value, toInput.value);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const query = new URLSearchParams({
        scope: scopeSelect.value,
        from: fromInput.value,
        to: toInput.value,
      });
      history.replaceState(null, '', `?${query}`);
      notify('');
      await showReport(scopeSelect.value, fromInput.value, toInput.value);
    } catch (error) {
      notify(error.message, 'error');
    } finally {
      button.disabled = false;
    }
  });
}

start().catch((error) => notify(error.message, 'error'));
