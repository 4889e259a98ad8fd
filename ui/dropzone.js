// Page-wide, run once with the cards' gr.HTML(js_on_load=...): Gradio's file drop zone is a button named
// "Click to upload or drop files" that shows "Drop File Here - or - Click to Upload" (axe: serious
// "label-content-name-mismatch": speech-input users say what they see). Its name becomes the text it shows.
function nameDropZones(root) {
  root.querySelectorAll('button[aria-dropeffect][aria-label]').forEach((zone) => {
    const shown = zone.innerText.replace(/\s+/g, ' ').trim();
    if (shown && zone.getAttribute('aria-label') !== shown) zone.setAttribute('aria-label', shown);
  });
}
new MutationObserver((changes) => {
  changes.forEach((change) => change.addedNodes.forEach((node) => {
    if (node.nodeType === 1) nameDropZones(node.parentNode || node);
  }));
}).observe(document.body, {childList: true, subtree: true});
nameDropZones(document);
document.body.dataset.wxScripts = 'attached';  // the page's own scripts run (tests audit the page after this)
