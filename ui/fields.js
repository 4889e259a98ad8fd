// Run by the cards' gr.HTML(js_on_load=...): when a refusal names an option (`data-field` on the note), that
// option's field is marked invalid (outline, aria-invalid) and brought into view with the focus, instead of the
// user hunting for it from a message at the top of the column; the mark goes with the next refusal or job.
function markField() {
  document.querySelectorAll('.wx-invalid').forEach((old) => {
    old.classList.remove('wx-invalid');
    old.querySelectorAll('[aria-invalid]').forEach((input) => input.removeAttribute('aria-invalid'));
  });
  const note = element.querySelector('[data-field]');
  const field = note && document.getElementById(`wx-opt-${note.dataset.field}`);
  if (!field) return;
  field.classList.add('wx-invalid');
  const accordion = field.closest('.accordion, details');
  if (accordion && accordion.querySelector('.label-wrap:not(.open)')) accordion.querySelector('.label-wrap').click();
  const input = field.querySelector('input, textarea, select');
  if (input) input.setAttribute('aria-invalid', 'true');
  requestAnimationFrame(() => {
    field.scrollIntoView({block: 'center'});
    if (input) input.focus({preventScroll: true});
  });
}
watch('value', markField);

// Gradio's dropdowns (Model, Language, Task, Speaker model, the voice library's Voice) leave their option list
// open when Tab moves on, and the stale lists then sit over the fields below, where Escape and a click elsewhere
// no longer reach them; and Chrome puts a long, scrollable list in the Tab order, where focus fell to the page
// body. Here a list closes when the focus or a click goes elsewhere, or on Escape, as the dropdown's own Escape
// does, and the lists are out of the Tab order (the arrow keys move through them, as before).
function openLists(except) {
  return Array.from(document.querySelectorAll('input[role="listbox"][aria-expanded="true"]'))
    .filter((input) => input !== except);
}
function closeList(input) {
  // bubbling: Svelte handles the dropdown's keys at the page's root
  input.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', code: 'Escape', bubbles: true}));
}
// after the dropdowns' own handlers have run (on Tab, the one left re-opens its list as the focus leaves)
document.addEventListener('focusin', () => setTimeout(() => openLists(document.activeElement).forEach(closeList)));
document.addEventListener('keydown', (event) => {  // a real Escape, not the ones sent here
  if (event.key === 'Escape' && event.isTrusted) openLists(event.target).forEach(closeList);
});
document.addEventListener('pointerdown', (event) => {
  openLists().forEach((input) => {
    const dropdown = input.closest('.wrap');
    if (!dropdown || !dropdown.contains(event.target)) closeList(input);
  });
}, true);
function listsOutOfTabOrder(root) {
  root.querySelectorAll('ul[role="listbox"]:not([tabindex])').forEach((list) => list.setAttribute('tabindex', '-1'));
}
new MutationObserver(() => listsOutOfTabOrder(document)).observe(document.body, {childList: true, subtree: true});
listsOutOfTabOrder(document);

// Skip links to the transcript's first turn (or the results, when there is none yet): one first in the Tab order,
// one right after Transcribe and Stop, past the options (from Transcribe to the first turn was 45 Tabs). Each
// shows while it has the focus. The results column is a named region too, for moving by landmarks.
function skipToTranscript(event) {
  event.preventDefault();
  const target = document.querySelector('#wx-view .wx-turn-head') || document.querySelector('#wx-view');
  if (!target) return;
  if (!target.matches('button, a, input, textarea, select, [tabindex]')) target.setAttribute('tabindex', '-1');
  target.focus({preventScroll: true});
  target.scrollIntoView({block: 'center'});
}
function skipLink(id) {
  const link = document.createElement('a');
  link.className = 'wx-skip';
  link.id = id;
  link.href = '#wx-view';
  link.textContent = 'Skip to the transcript';
  link.addEventListener('click', skipToTranscript);
  return link;
}
function addSkipLinks() {
  if (!document.getElementById('wx-skip-top')) document.body.prepend(skipLink('wx-skip-top'));
  const actions = document.getElementById('wx-actions');
  if (actions && !document.getElementById('wx-skip-options')) actions.after(skipLink('wx-skip-options'));
  const results = document.getElementById('wx-results');
  if (results && !results.hasAttribute('role')) {
    results.setAttribute('role', 'region');
    results.setAttribute('aria-label', 'Transcript and downloads');
  }
}
addSkipLinks();
