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
