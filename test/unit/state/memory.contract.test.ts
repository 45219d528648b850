import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll } from 'vitest';

import { createStateBackend, stateSchema } from '../../../src/state/index.js';
import type { StateBackend } from '../../../src/state/types.js';
import { describeStateContract } from './state-contract.js';
import { FakeClock } from './state-fixtures.js';

const root = await mkdtemp(path.join(tmpdir(), 'llm-router-state-'));
afterAll(() => rm(root, { recursive: true, force: true }));

/** Mid-day UTC, so a test's few fake hours never cross midnight by accident. */
const START = Date.UTC(2026, 2, 10, 9, 0, 0);
const clock = new FakeClock(START);
let dir = '';
let current: { backend: StateBackend; closed: boolean } | undefined;
const opened: Array<{ backend: StateBackend; closed: boolean }> = [];
let n = 0;

async function openOn(dataDir: string): Promise<StateBackend> {
  const backend = await createStateBackend(stateSchema.parse({ dataDir }), { baseDir: root, now: clock.now });
  const entry = { backend, closed: false };
  const close = backend.close.bind(backend);
  backend.close = async () => {
    entry.closed = true;
    await close();
  };
  opened.push(entry);
  current = entry;
  return backend;
}

describeStateContract({
  name: 'memory',
  async open() {
    clock.ms = START;
    dir = `run-${n++}`;
    return openOn(dir);
  },
  // One process shares one store: the peer is the same backend while it is open, and a new
  // one on the same folder once it is closed (a restart).
  async peer() {
    return current && !current.closed ? current.backend : openOn(dir);
  },
  async advance(ms) {
    clock.advance(ms);
  },
  now: clock.now,
  exactClock: true,
  async closeAll() {
    for (const entry of opened.splice(0)) if (!entry.closed) await entry.backend.close();
  },
});
