// Page-wide, run once with the cards' gr.HTML(js_on_load=...): Gradio's file drop zone is a button named
// "Click to upload or drop files" that shows "Drop File Here - or - Click to Upload" (axe: serious
// "label-content-name-mismatch": speech-input users say what they see). Its name becomes the text it shows.
function nameDropZones(root) {
  root.querySelectorAll('button[aria-dropeffect][aria-label]').forEach((zone) => {
    const shown = zone.innerText.replace(/\s+/g, ' ').trim();
    if (shown && zone.getAttribute('aria-label') !== shown) zone.setAttribute('aria-label', shown);
  });
}
// Gradio's Tabs keep a hidden copy of the tab buttons (`aria-hidden`, to measure what fits beside the overflow
// menu); a focusable control inside aria-hidden is a serious axe violation (aria-hidden-focus): out of the tab order.
function unfocusHiddenTabs(root) {
  root.querySelectorAll('.tab-container[aria-hidden="true"] button:not([tabindex="-1"])').forEach((button) => {
    button.setAttribute('tabindex', '-1');
  });
}
new MutationObserver((changes) => {
  changes.forEach((change) => change.addedNodes.forEach((node) => {
    if (node.nodeType === 1) {
      nameDropZones(node.parentNode || node);
      unfocusHiddenTabs(node.parentNode || node);
    }
  }));
}).observe(document.body, {childList: true, subtree: true});
nameDropZones(document);
unfocusHiddenTabs(document);
document.body.dataset.wxScripts = 'attached';  // the page's own scripts run (tests audit the page after this)
