// Page-wide, run once with the cards' gr.HTML(js_on_load=...): Gradio's toast header is a role="button" with
// tabindex that holds the Close button (axe: serious "nested-interactive" whenever a toast is open). The header's
// click only folds grouped messages; Close stays a real button, so the header becomes a plain container.
function plainToastHeaders(root) {
  root.querySelectorAll('.toast-header[role="button"]').forEach((header) => {
    header.removeAttribute('role');
    header.removeAttribute('tabindex');
  });
}
new MutationObserver((changes) => {
  changes.forEach((change) => change.addedNodes.forEach((node) => {
    if (node.nodeType === 1) plainToastHeaders(node.parentNode || node);
  }));
}).observe(document.body, {childList: true, subtree: true});
plainToastHeaders(document);
