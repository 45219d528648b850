import { $ } from './dom.js';

/**
 * Asks before an action, in the page's own <dialog> (no window.confirm: it can be styled,
 * read by screen readers like the rest, and driven by tests). Resolves { ok, reason }.
 */
export function confirmAction({ title, text, confirm = 'Confirm', askReason = false }) {
  const dialog = $('confirm');
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = confirm;
  $('confirm-reason-row').hidden = !askReason;
  $('confirm-reason').value = '';
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve({ ok: dialog.returnValue === 'ok', reason: $('confirm-reason').value.trim() }), { once: true });
    dialog.showModal();
    (askReason ? $('confirm-reason') : $('confirm-cancel')).focus();
  });
}
