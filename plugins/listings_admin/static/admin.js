/* The admin pages' own scripts, served from this app so the Content-Security-Policy can forbid inline
 * script (script-src 'self'). Loaded once by base.html (defer); each part acts only on the pages that have
 * its elements, through listeners on the document, so content htmx swaps in works without re-running
 * anything.
 *   - the DMO form: the source type shows its own section; table rows added from <template>s, removed;
 *   - the "queued runs" dialog (saving a config whose DAG has queued runs) opens as a modal;
 *   - the review queue's shortcuts (j/k move, x select, a/n/d press the row's button, o opens the item);
 *   - a review item's shortcuts (a, 2-9, n, d press a decision, j next item, u back to the queue).
 */
(() => {
  'use strict';

  // -- the DMO form (dmo_form.html) ---------------------------------------------------------------------
  const showSource = (type) => {
    document.querySelectorAll('[data-source-type]').forEach((el) => {
      el.hidden = el.getAttribute('data-source-type') !== type;
    });
  };
  document.addEventListener('change', (e) => {
    if (e.target.closest('#dmo-form') && e.target.name === 'source_type') showSource(e.target.value);
  });
  document.addEventListener('click', (e) => {
    if (!(e.target instanceof Element) || !e.target.closest('#dmo-form')) return;
    const add = e.target.closest('[data-add-row]');
    if (add) {
      e.preventDefault();
      const tpl = document.getElementById(add.getAttribute('data-add-row'));
      const body = add.closest('.control').querySelector('table tbody');
      body.appendChild(tpl.content.cloneNode(true));
      const first = body.lastElementChild && body.lastElementChild.querySelector('input, select');
      if (first) first.focus();
      return;
    }
    const remove = e.target.closest('[data-remove-row]');
    if (remove) {
      e.preventDefault();
      remove.closest('tr').remove();
    }
  });

  // -- the queued-runs dialog (_dmo_queued_dialog.html): shown open without script, modal with it ---------
  const openDialogs = (root) => {
    root.querySelectorAll('dialog[data-queued-dialog]').forEach((d) => {
      if (typeof d.showModal !== 'function' || d.dataset.modal) return;
      d.dataset.modal = 'true';
      d.close();
      d.showModal();
    });
  };

  // -- the review queue (review.html) ---------------------------------------------------------------------
  const rows = () => [...document.querySelectorAll('table.review tbody tr[data-review-item-id]')];
  const current = () => Math.max(0, rows().findIndex((r) => r.classList.contains('current')));
  const focus = (i) => {
    const all = rows();
    if (!all.length) return;
    all.forEach((r) => r.classList.remove('current'));
    const row = all[Math.max(0, Math.min(all.length - 1, i))];
    row.classList.add('current');
    row.scrollIntoView({ block: 'nearest' });
  };
  let queueStarted = false;
  const startQueue = () => {
    if (queueStarted || !document.querySelector('table.review')) return;
    queueStarted = true;
    focus(0);
  };
  const queueKeys = (e) => {
    if (e.target.closest('textarea, select, [contenteditable], input:not([type=checkbox])')) return;
    const row = rows()[current()];
    if (!row) return;
    if (!row.classList.contains('current')) focus(0);
    if (e.key === 'j') focus(current() + 1);
    else if (e.key === 'k') focus(current() - 1);
    else if (e.key === 'x') {
      const box = row.querySelector('input[type=checkbox]');
      if (box && !box.disabled) box.checked = !box.checked;
    } else if (e.key === 'o') {
      if (row.dataset.href) window.location.href = row.dataset.href;
    } else if (['a', 'n', 'd'].includes(e.key)) {
      const button = row.querySelector(`button[data-key="${e.key}"]`);
      if (button && !button.disabled) button.click();
    } else return;
    e.preventDefault();
  };
  document.addEventListener('click', (e) => {
    if (!(e.target instanceof Element)) return;
    const row = e.target.closest('table.review tbody tr[data-review-item-id]');
    if (row && !e.target.closest('a, button, input')) focus(rows().indexOf(row));
  });

  // -- one review item (review_item.html) -----------------------------------------------------------------
  const itemKeys = (e) => {
    if (e.target.closest('input, select, textarea, [contenteditable]')) return;
    const link = { j: 'next-item', u: 'back-to-queue' }[e.key];
    if (link) {
      const a = document.getElementById(link);
      if (!a) return;
      window.location.href = a.href;
    } else {
      const button = document.querySelector(`#decide button[data-key="${e.key}"]`);
      if (!button || button.disabled) return;
      button.click();
    }
    e.preventDefault();
  };

  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || !(e.target instanceof Element)) return;
    if (document.querySelector('table.review')) queueKeys(e);
    else if (document.querySelector('form#decide[data-shortcuts="review-item"]')) itemKeys(e);
  });

  const start = (root) => {
    openDialogs(root);
    startQueue();
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', () => start(document));
  else start(document);
  document.addEventListener('htmx:load', (e) => start(e.target instanceof Element ? e.target : document));
})();
