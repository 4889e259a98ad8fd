// The results view's behaviour, run once per page by gr.HTML(js_on_load=...) with `element` = the component's
// root. Listeners sit on that root, so they survive re-renders of its value; what is derived from one render
// (turn start times, search text) is cached per rendered `.wx-view` and rebuilt when a new one appears.
let cache = null;

function view() {
  const root = element.querySelector('.wx-view');
  if (!root) return null;
  if (!cache || cache.root !== root) {
    const turns = Array.from(root.querySelectorAll('.wx-turn'));
    cache = {
      root,
      turns,
      starts: turns.map((turn) => parseFloat(turn.dataset.start)),
      ends: turns.map((turn) => parseFloat(turn.dataset.end)),
      texts: null,  // lower-cased turn texts, built on the first search
      active: -1,
      hits: [],
    };
  }
  return cache;
}

function audio() {
  return element.querySelector('audio.wx-audio');
}

// A node's text as shown: without the visually hidden notes for screen readers (e.g. "also speaking: …").
function shownText(node) {
  const copy = node.cloneNode(true);
  copy.querySelectorAll('.wx-sr').forEach((hidden) => hidden.remove());
  return copy.textContent;
}

function say(text) {
  const status = element.querySelector('.wx-status');
  if (status) status.textContent = text;
}

function seek(target) {
  const player = audio();
  if (!player) return;
  player.currentTime = parseFloat(target.dataset.start);
  player.play().catch(() => {});
}

// Buttons are activated by Enter and Space natively (a click event); a click on a turn's body seeks too.
element.addEventListener('click', (event) => {
  const copy = event.target.closest('.wx-copy');
  if (copy) { copyTranscript(); return; }
  const target = event.target.closest('[data-start]');
  if (target && element.contains(target)) seek(target);
});

// Arrow keys move between the seek buttons of one group (a turn's header and words, a timeline lane).
element.addEventListener('keydown', (event) => {
  if (event.key !== 'ArrowRight' && event.key !== 'ArrowLeft') return;
  const current = event.target.closest('button[data-start]');
  const group = current && current.closest('.wx-group');
  if (!group) return;
  const buttons = Array.from(group.querySelectorAll('button[data-start]'));
  const next = buttons[buttons.indexOf(current) + (event.key === 'ArrowRight' ? 1 : -1)];
  if (next) { event.preventDefault(); next.focus(); }
});

// ---- follow playback: the turn being played is marked and, with "Follow playback" on, kept in view ----
function turnAt(state, now) {
  let low = 0, high = state.starts.length - 1, found = -1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    if (state.starts[mid] <= now) { found = mid; low = mid + 1; } else { high = mid - 1; }
  }
  return found >= 0 && now < state.ends[found] ? found : -1;
}

element.addEventListener('timeupdate', (event) => {
  const state = view();
  if (!state || !event.target.classList.contains('wx-audio')) return;
  const index = turnAt(state, event.target.currentTime);
  if (index === state.active) return;
  if (state.active >= 0) {
    state.turns[state.active].classList.remove('wx-active');
    state.turns[state.active].removeAttribute('aria-current');
  }
  state.active = index;
  if (index < 0) return;
  const turn = state.turns[index];
  turn.classList.add('wx-active');
  turn.setAttribute('aria-current', 'true');
  const follow = element.querySelector('.wx-follow');
  if (follow && follow.checked && !turn.hidden) keepInView(turn, 3);
}, true);

// Turns off screen are laid out at an estimated height (content-visibility), so the first scroll can land a
// little off once the turns around the target are measured: check again on the next frames.
function keepInView(turn, tries) {
  const box = turn.getBoundingClientRect();
  const head = element.querySelector('.wx-head');
  const top = head ? head.getBoundingClientRect().bottom : 0;
  if (box.top >= top && box.bottom <= window.innerHeight) return;
  turn.scrollIntoView({block: 'center'});
  if (tries > 1) requestAnimationFrame(() => requestAnimationFrame(() => keepInView(turn, tries - 1)));
}

// ---- search: turns containing every typed term stay, the matching words are marked ----
function search(query) {
  const state = view();
  if (!state) return;
  state.hits.forEach((hit) => hit.classList.remove('wx-hit'));
  state.hits = [];
  const terms = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (!state.texts) state.texts = state.turns.map((turn) => shownText(turn.querySelector('.wx-text')).toLowerCase());
  let shown = 0;
  state.turns.forEach((turn, index) => {
    const match = terms.every((term) => state.texts[index].includes(term));
    turn.hidden = !match;
    if (!match) return;
    shown += 1;
    if (!terms.length) return;
    turn.querySelectorAll('.wx-word').forEach((word) => {
      const text = word.textContent.toLowerCase();
      if (terms.some((term) => text.includes(term))) { word.classList.add('wx-hit'); state.hits.push(word); }
    });
  });
  say(terms.length ? `${shown} of ${state.turns.length} turns match` : '');
}

let pending = null;
element.addEventListener('input', (event) => {
  if (!event.target.classList.contains('wx-search')) return;
  clearTimeout(pending);
  const query = event.target.value;
  pending = setTimeout(() => search(query), 120);
});

element.addEventListener('keydown', (event) => {
  if (!event.target.classList.contains('wx-search')) return;
  if (event.key !== 'Escape' && event.key !== 'Enter') return;
  clearTimeout(pending);  // a search still waiting for typing to pause would undo this one
  if (event.key === 'Escape') { event.target.value = ''; search(''); return; }
  search(event.target.value);
  const state = view();
  const first = state && (state.hits[0] || (state.turns.find((turn) => !turn.hidden) || {}).firstElementChild);
  if (first) { first.focus(); seek(first); }
});

// ---- copy: the plain transcript (speakers and times), with a fallback where the clipboard API is absent ----
async function copyTranscript() {
  const plain = element.querySelector('template.wx-plain');
  if (!plain) return;
  const text = plain.content.textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch (error) {
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.appendChild(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }
  say('Transcript copied');
}
