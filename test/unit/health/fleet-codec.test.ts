import { describe, expect, it } from 'vitest';
import { fromFields, pairsToObject, parseMessage, stateMessageBody, toFields } from '../../../src/health/fleet-codec.js';
import type { SharedHealth } from '../../../src/health/fleet-types.js';

const REC: Omit<SharedHealth, 'ver'> = {
  state: 'drained',
  event: 'drain',
  since: 1_000,
  by: 'host-1-abc',
  at: 1_200,
  why: 'drained by operator: incident',
  drain: { at: 1_000, by: 'ops', reason: 'incident' },
  lastProbe: { at: 900, outcome: 'fail', latencyMs: 12, detail: 'ECONNREFUSED' },
};

/** What the write script publishes: the body with the version spliced in after its brace. */
const published = (ver: number, body: string) => `{"ver":${ver},${body.slice(1)}`;

describe('fleet codec', () => {
  it('reads back what it writes, absent optional fields included', () => {
    const flat = pairsToObject([...toFields(REC), 'ver', '7']);
    expect(fromFields(flat)).toEqual({ ...REC, ver: 7 });
    const bare = pairsToObject([...toFields({ state: 'open', since: 5 }), 'ver', '1']);
    expect(fromFields(bare)).toEqual({ state: 'open', since: 5, ver: 1 });
  });

  it('treats a hash without a state as never written', () => {
    expect(fromFields({})).toBeUndefined();
    expect(fromFields({ lastProbe: JSON.stringify(REC.lastProbe) })).toBeUndefined();
  });

  it('parses state messages with their version, loosely: unknown fields and unreadable extras are dropped', () => {
    const m = parseMessage(published(3, stateMessageBody('a/m', 'host-1-abc', REC)));
    expect(m).toEqual({ type: 'state', key: 'a/m', from: 'host-1-abc', rec: { ...REC, ver: 3 } });
    const newer = JSON.stringify({ type: 'state', ver: 4, key: 'a/m', from: 'x', extra: 1, rec: { state: 'open', since: 1, event: 'quarantine', lastError: 'not an object', colour: 'red' } });
    expect(parseMessage(newer)).toEqual({ type: 'state', key: 'a/m', from: 'x', rec: { state: 'open', since: 1, ver: 4 } });
  });

  it('refuses what it cannot use: no JSON, an unknown state, no version', () => {
    expect(parseMessage('not json')).toBeUndefined();
    expect(parseMessage(JSON.stringify({ type: 'state', ver: 1, key: 'a/m', from: 'x', rec: { state: 'sleeping', since: 1 } }))).toBeUndefined();
    expect(parseMessage(JSON.stringify({ type: 'state', key: 'a/m', from: 'x', rec: { state: 'open', since: 1 } }))).toBeUndefined();
    expect(parseMessage(JSON.stringify({ type: 'gossip', key: 'a/m', from: 'x' }))).toBeUndefined();
  });
});
