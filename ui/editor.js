// The transcript editor, run once per page after view.js in the same gr.HTML(js_on_load=...), with `element` =
// the component's root and `trigger` sending a `wx_edit` event (a command object) to the server (ui/editor.py).
// A turn shows its tools when hovered, tapped or focused: "Edit text" (or E on a focused turn) opens its text in a
// box, saved with the button or Ctrl+Enter and re-timed on the server; "Speaker" (or S) gives the turn, or the rest
// of it from the last word clicked, to another or a new speaker. Ctrl+Z / Ctrl+Shift+Z (or Ctrl+Y) undo and redo.
let lastWord = null;  // the word last clicked or focused: where "from this word on" splits a turn
let refocus = null;  // the turn (its first segment) to focus again once the corrected view arrives

function turnOf(node) {
  const turn = node && node.closest && node.closest('.wx-turn');
  return turn && element.contains(turn) ? turn : null;
}

let waiting = false;  // a correction was sent and its answer has not come

function send(command) {
  waiting = true;
  say(command.op === 'text' ? 'Re-timing the words…' : 'Saving…');
  trigger('wx_edit', command);
}

// A refused correction changes nothing on the page but a toast (ui/editor.py): "Saving…" ends with it, instead of
// staying until the next change.
new MutationObserver((changes) => {
  if (!waiting) return;
  const toast = changes.some((change) => Array.from(change.addedNodes).some(
    (node) => node.nodeType === 1 && (node.matches('.toast-body, .toast-item') || node.querySelector('.toast-body'))));
  if (toast) { waiting = false; refocus = null; say('Not changed: see the message.'); }
}).observe(document.body, {childList: true, subtree: true});

function tools(turn) {
  if (!turn || turn.querySelector('.wx-edit-tools, .wx-editing')) return;
  element.querySelectorAll('.wx-edit-tools').forEach((old) => old.remove());
  const bar = document.createElement('span');
  bar.className = 'wx-edit-tools';
  bar.innerHTML = '<button type="button" class="wx-edit-text">Edit text</button>'
    + '<button type="button" class="wx-edit-speaker">Speaker</button>';
  turn.querySelector('.wx-turn-head').after(bar);
}

// A touch screen does not hover (the pointer it reports after a tap would move the tools to whatever turn
// scrolls under it): there a tap shows them.
const hovering = window.matchMedia('(hover: hover)');
element.addEventListener('mouseover', (event) => { if (hovering.matches) tools(turnOf(event.target)); });
element.addEventListener('click', (event) => tools(turnOf(event.target)));
element.addEventListener('focusin', (event) => {
  const turn = turnOf(event.target);
  if (event.target.classList.contains('wx-word')) lastWord = event.target;
  if (turn) tools(turn);
});

function bounds(turn) {
  return {first: parseInt(turn.dataset.first, 10), last: parseInt(turn.dataset.last, 10)};
}

function openText(turn) {
  closeEditors();
  const text = turn.querySelector('.wx-text');
  const form = document.createElement('div');
  form.className = 'wx-editing';
  form.innerHTML = '<textarea class="wx-edit-box" rows="3" aria-label="Text of this turn"></textarea>'
    + '<div class="wx-edit-actions"><button type="button" class="wx-save">Save</button>'
    + '<button type="button" class="wx-cancel">Cancel</button>'
    + '<span class="wx-hint"><span class="wx-on-keys">Ctrl+Enter saves, Escape cancels; </span>'
    + 'the words are re-timed on save</span></div>';
  text.hidden = true;
  text.after(form);
  const box = form.querySelector('textarea');
  box.value = shownText(text).replace(/\s+/g, ' ').trim();
  bringIntoView(form, box);
}

// The opened editor in view below the sticky player, with the focus in it (a phone's own scroll on focus may
// leave it under the player or behind the keyboard).
function bringIntoView(form, field) {
  field.focus({preventScroll: true});
  form.scrollIntoView({block: 'center'});
}

function speakerNames() {
  const list = element.querySelector('.wx-transcript');
  try { return JSON.parse(list.dataset.speakers || '[]'); } catch (error) { return []; }
}

function option(value, label) {
  const item = document.createElement('option');
  item.value = value;
  item.textContent = label;
  return item;
}

function openSpeaker(turn) {
  closeEditors();
  const form = document.createElement('div');
  form.className = 'wx-editing';
  form.innerHTML = '<label>Speaker <select class="wx-pick-speaker"></select></label>'
    + '<label class="wx-new-label" hidden>Name <input type="text" class="wx-new-speaker" '
    + 'aria-describedby="wx-new-speaker-error"></label>'
    + '<span class="wx-field-error" id="wx-new-speaker-error" role="alert"></span>'
    + '<label>Give <select class="wx-pick-range"></select></label>'
    + '<div class="wx-edit-actions"><button type="button" class="wx-apply">Apply</button>'
    + '<button type="button" class="wx-cancel">Cancel</button></div>';
  const pick = form.querySelector('.wx-pick-speaker');
  const current = (turn.querySelector('.wx-speaker') || {}).textContent;
  speakerNames().forEach((name) => pick.append(option(name, name)));
  pick.append(option('', 'New speaker…'));
  pick.value = speakerNames().find((name) => name !== current) || '';
  const range = form.querySelector('.wx-pick-range');
  range.append(option('turn', 'the whole turn'));
  if (lastWord && turn.contains(lastWord) && lastWord.dataset.seg !== undefined) {
    range.append(option('rest', `from “${lastWord.textContent}” to the end of the turn`));
    range.value = 'rest';
  }
  const showNew = () => { form.querySelector('.wx-new-label').hidden = pick.value !== ''; markName(form, ''); };
  pick.addEventListener('change', showNew);
  form.querySelector('.wx-new-speaker').addEventListener('input', () => markName(form, ''));
  showNew();
  turn.querySelector('.wx-text').after(form);
  bringIntoView(form, pick);
}

// The new speaker's Name field marked (outline, aria-invalid) with the reason beside it, or cleared.
function markName(form, message) {
  const field = form.querySelector('.wx-new-speaker');
  field.classList.toggle('wx-invalid', Boolean(message));
  if (message) field.setAttribute('aria-invalid', 'true'); else field.removeAttribute('aria-invalid');
  form.querySelector('.wx-field-error').textContent = message;
}

function closeEditors() {
  element.querySelectorAll('.wx-editing').forEach((form) => {
    const text = form.parentNode.querySelector('.wx-text');
    if (text) text.hidden = false;
    form.remove();
  });
}

function save(turn) {
  const form = turn.querySelector('.wx-editing');
  const where = bounds(turn);
  const box = form.querySelector('.wx-edit-box');
  if (box) { refocus = where.first; send({op: 'text', first: where.first, last: where.last, text: box.value}); return; }
  const pick = form.querySelector('.wx-pick-speaker');
  const speaker = pick.value || form.querySelector('.wx-new-speaker').value.trim();
  if (!speaker) {  // "New speaker…" without a name: said beside the Name field, nothing is sent
    markName(form, 'Type the new speaker’s name.');
    form.querySelector('.wx-new-speaker').focus();
    return;
  }
  refocus = where.first;
  if (form.querySelector('.wx-pick-range').value === 'rest') {
    send({op: 'speaker', first: parseInt(lastWord.dataset.seg, 10), word: parseInt(lastWord.dataset.word, 10),
          last: where.last, speaker});
  } else {
    send({op: 'speaker', first: where.first, word: 0, last: where.last, speaker});
  }
}

element.addEventListener('click', (event) => {
  const turn = turnOf(event.target);
  if (!turn) return;
  const button = event.target.closest('button');
  if (!button) return;
  if (button.classList.contains('wx-edit-text')) openText(turn);
  else if (button.classList.contains('wx-edit-speaker')) openSpeaker(turn);
  else if (button.classList.contains('wx-save') || button.classList.contains('wx-apply')) save(turn);
  else if (button.classList.contains('wx-cancel')) { closeEditors(); turn.querySelector('.wx-turn-head').focus(); }
  else if (button.classList.contains('wx-word')) lastWord = button;
}, true);

// The view's own click handler seeks on anything with data-start; the editing controls must not play audio.
element.addEventListener('click', (event) => {
  if (event.target.closest('.wx-editing, .wx-edit-tools')) event.stopPropagation();
}, true);

element.addEventListener('keydown', (event) => {
  const turn = turnOf(event.target);
  if (!turn) return;
  if (event.target.closest('.wx-editing')) {
    if (event.key === 'Escape') { event.preventDefault(); closeEditors(); turn.querySelector('.wx-turn-head').focus(); }
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey || event.target.tagName !== 'TEXTAREA')) {
      event.preventDefault();
      save(turn);
    }
    return;
  }
  if (event.ctrlKey || event.altKey || event.metaKey) return;
  if (event.key === 'e' || event.key === 'E') { event.preventDefault(); openText(turn); }
  if (event.key === 's' || event.key === 'S') { event.preventDefault(); openSpeaker(turn); }
});

// Undo and redo from anywhere on the page, except while typing in a field (the field's own undo wins there).
document.addEventListener('keydown', (event) => {
  if (!(event.ctrlKey || event.metaKey) || event.altKey) return;
  const typing = event.target.closest && event.target.closest('input, textarea, select, [contenteditable]');
  if (typing || !element.querySelector('.wx-transcript')) return;
  const key = event.key.toLowerCase();
  if (key === 'z' || key === 'y') {
    event.preventDefault();
    send({op: key === 'y' || event.shiftKey ? 'redo' : 'undo'});
  }
});

// The corrected view replaces the old one: focus returns to the turn that was corrected.
watch('value', () => {
  waiting = false;
  if (refocus === null) return;
  const turn = Array.from(element.querySelectorAll('.wx-turn')).find(
    (candidate) => parseInt(candidate.dataset.first, 10) <= refocus && refocus <= parseInt(candidate.dataset.last, 10));
  refocus = null;
  if (turn) turn.querySelector('.wx-turn-head').focus();
});
