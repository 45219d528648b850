import { describe, expect, it } from 'vitest';

import { oversizedTurn, planTrim, type TrimItem } from '../../../src/sessions/session-trim.js';

const m = (role: string, bytes = 10, extra: Partial<TrimItem> = {}): TrimItem => ({ role, bytes, ...extra });
const limits = (maxMessages: number, maxSessionBytes = 1e9) => ({ maxMessages, maxSessionBytes });

describe('planTrim', () => {
  it('drops nothing when the session fits', () => {
    expect(planTrim([m('system')], [m('user'), m('assistant')], [m('user')], limits(4))).toEqual({ ok: true, drop: 0, bytes: 40, messages: 4 });
  });

  it('cuts only before a user message, the fewest turns that make it fit', () => {
    const history = [m('user'), m('assistant'), m('assistant'), m('user'), m('assistant'), m('user'), m('assistant')];
    expect(planTrim([], history, [m('user'), m('assistant')], limits(7))).toMatchObject({ ok: true, drop: 3, messages: 6 });
    expect(planTrim([], history, [m('user'), m('assistant')], limits(5))).toMatchObject({ ok: true, drop: 5, messages: 4 });
  });

  it('counts bytes as well as messages', () => {
    const history = [m('user', 100), m('assistant', 100), m('user', 5), m('assistant', 5)];
    expect(planTrim([m('system', 20)], history, [m('user', 10)], limits(100, 50))).toMatchObject({ ok: true, drop: 2, bytes: 40 });
  });

  it('never cuts between a call and its answer, in the history or in the new turn', () => {
    const history = [m('user'), m('assistant', 10, { calls: ['c1'] }), m('user'), m('tool', 10, { answers: 'c1' }), m('user'), m('assistant')];
    expect(planTrim([], history, [m('user')], limits(3))).toMatchObject({ ok: true, drop: 4 });
    const pending = [m('user'), m('assistant'), m('user'), m('assistant', 10, { calls: ['c2'] })];
    expect(planTrim([], pending, [m('tool', 10, { answers: 'c2' })], limits(3))).toMatchObject({ ok: true, drop: 2 });
    expect(planTrim([], pending, [m('tool', 10, { answers: 'c2' })], limits(2))).toEqual({ ok: false, bytes: 30, messages: 3 });
  });

  it('ignores answers to calls it does not hold, and a call repeated later binds to its latest caller', () => {
    expect(planTrim([], [m('user'), m('tool', 10, { answers: 'gone' }), m('user')], [m('user')], limits(2))).toMatchObject({ ok: true, drop: 2 });
    const history = [m('user'), m('assistant', 10, { calls: ['c'] }), m('user'), m('assistant', 10, { calls: ['c'] })];
    expect(planTrim([], history, [m('tool', 10, { answers: 'c' })], limits(3))).toMatchObject({ ok: true, drop: 2 });
  });

  it('reports the smallest possible session when nothing is enough', () => {
    expect(planTrim([m('system', 500)], [m('user'), m('assistant')], [m('user')], limits(10, 100))).toEqual({ ok: false, bytes: 510, messages: 2 });
  });
});

describe('oversizedTurn', () => {
  it('names a turn over either cap on its own', () => {
    expect(oversizedTurn([m('user', 60), m('assistant', 50)], limits(5, 100))).toEqual({ bytes: 110, messages: 2 });
    expect(oversizedTurn([m('user'), m('user'), m('user')], limits(2))).toEqual({ bytes: 30, messages: 3 });
    expect(oversizedTurn([m('user', 100)], limits(1, 100))).toBeUndefined();
  });
});
