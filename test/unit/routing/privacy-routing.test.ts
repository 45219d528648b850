import { describe, expect, it } from 'vitest';
import { routeSchema } from '../../../src/config/schema.js';
import type { Provider, Target } from '../../../src/core/provider.js';
import { createDispatcher } from '../../../src/routing/dispatcher.js';
import { RouteError } from '../../../src/routing/route-error.js';
import type { TargetGate } from '../../../src/routing/target-gate.js';
import { FakeProvider } from '../../fixtures/fake-provider.js';
import { chatRequest } from '../../fixtures/requests.js';

/** A fake of the in-process model's kind: local by default. */
class LocalFake extends FakeProvider {
  override readonly kind: string = 'llama-cpp';
}

const signal = () => new AbortController().signal;
const privateRequest = (stream = false) => {
  const req = chatRequest({ stream });
  req.meta.privacy = { kinds: ['cn_id'], allow: ['local', 'trusted'] };
  return req;
};

function setup(targets: unknown[], providers: FakeProvider[], gate?: TargetGate) {
  return createDispatcher({
    routes: { chat: routeSchema.parse({ targets }) },
    providers: new Map<string, Provider>(providers.map((p) => [p.id, p])),
    disabled: new Map(),
    random: () => 0,
    ...(gate ? { gate } : {}),
  });
}

describe('privacy routing', () => {
  it('skips untrusted targets, says so in a header, and never mirrors the request', async () => {
    const cloud = new FakeProvider('cloud');
    const local = new LocalFake('local');
    const mirrored: Target[] = [];
    const gate: TargetGate = { admits: () => true, record: () => {}, served: (_r, _q, t) => void mirrored.push(t) };
    const d = setup([{ provider: 'cloud', model: 'm' }, { provider: 'local', model: 'tiny' }], [cloud, local], gate);
    const r = await d.chat(privateRequest(), signal());
    expect(r.target.provider).toBe('local');
    expect(r.notes?.headers?.['x-router-privacy']).toBe('restricted; kinds=cn_id; targets=local,trusted');
    expect(cloud.calls).toHaveLength(0);
    expect(mirrored).toEqual([]);
    // The same request without PII is mirrored as usual.
    await d.chat(chatRequest(), signal());
    expect(mirrored).toHaveLength(1);
  });

  it('honours a target marked trusted and one marked untrusted', async () => {
    const vpc = new FakeProvider('vpc');
    const local = new LocalFake('local');
    const d = setup([{ provider: 'local', model: 'tiny', trust: 'untrusted' }, { provider: 'vpc', model: 'm', trust: 'trusted' }], [vpc, local]);
    const r = await d.stream(privateRequest(true), signal());
    expect(r.target.provider).toBe('vpc');
    expect(local.calls).toHaveLength(0);
  });

  it('does not fall back beyond the trusted targets', async () => {
    const cloud = new FakeProvider('cloud');
    const local = new LocalFake('local').script({ fail: 'server' });
    const d = setup([{ provider: 'local', model: 'tiny' }, { provider: 'cloud', model: 'm' }], [cloud, local]);
    const err = await d.chat(privateRequest(), signal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RouteError);
    expect((err as RouteError).reason).toBe('exhausted');
    expect(cloud.calls).toHaveLength(0);
  });

  it('refuses (400) on a route without any such target, and 503 when they are all open', async () => {
    const cloud = new FakeProvider('cloud');
    const none = await setup([{ provider: 'cloud', model: 'm' }], [cloud]).chat(privateRequest(), signal()).catch((e: unknown) => e);
    expect((none as RouteError).reason).toBe('privacy_unavailable');
    expect((none as RouteError).message).toContain('cn_id');
    const local = new LocalFake('local');
    const closed: TargetGate = { admits: (_r, t) => t.provider !== 'local', record: () => {} };
    const open = await setup([{ provider: 'cloud', model: 'm' }, { provider: 'local', model: 'tiny' }], [cloud, local], closed).chat(privateRequest(), signal()).catch((e: unknown) => e);
    expect((open as RouteError).reason).toBe('no_available_target');
    expect(cloud.calls).toHaveLength(0);
  });
});
