// The virtual keys, with revoke.
import * as api from './api.js';
import { confirmAction } from './dialog.js';
import { $, h, setRows } from './dom.js';

export async function loadKeys(notify) {
  const note = $('keys-note');
  let list;
  try {
    list = await api.keys();
  } catch (err) {
    note.hidden = false;
    note.textContent = err.status === 503 ? 'The key store is not open yet.' : `Keys could not be listed: ${err.message}`;
    return;
  }
  note.hidden = true;
  setRows(
    $('keys-table').tBodies[0],
    list.data.map((k) =>
      h(
        'tr',
        { dataset: { key: k.id } },
        h('th', { scope: 'row' }, k.name),
        h('td', {}, h('code', {}, k.id)),
        h('td', {}, k.team ?? '—'),
        h('td', {}, k.prefix ? h('code', {}, k.prefix) : '—'),
        h('td', {}, k.source),
        h('td', {}, h('span', { class: `badge status-${k.status}` }, k.status)),
        h('td', { title: k.createdAt }, new Date(k.createdAt).toLocaleString()),
        h(
          'td',
          { class: 'actions' },
          k.status === 'active' && k.source !== 'config'
            ? h(
                'button',
                {
                  type: 'button',
                  class: 'small danger',
                  'aria-label': `Revoke key ${k.name}`,
                  on: {
                    click: async () => {
                      const answer = await confirmAction({ title: `Revoke ${k.name}?`, text: `Key ${k.id} stops working at once, on every instance. This cannot be undone.`, confirm: 'Revoke' });
                      if (!answer.ok) return;
                      try {
                        await api.revokeKey(k.id);
                        notify(`Key ${k.name} revoked.`);
                      } catch (err) {
                        notify(`Revoking ${k.name} failed: ${err.message}`, true);
                      }
                      void loadKeys(notify);
                    },
                  },
                },
                'Revoke',
              )
            : k.source === 'config'
              ? h('span', { class: 'muted small' }, 'in the config')
              : null,
        ),
      ),
    ),
    'no keys',
  );
}
