/**
 * Safety policies compiled from the config: which action each lexicon category and PII kind
 * gets in each direction, and which request a policy applies to (key, then team, then route,
 * then `safety.default`).
 */
import type { SafetyConfig, SafetyPolicyConfig } from '../config/safety-schema.js';
import type { RouteConfig } from '../config/schema.js';
import type { Identity } from '../identity/types.js';
import { expandKinds, type PiiKind } from './pii/kinds.js';

export type LexiconAction = 'block' | 'mask' | 'flag';
export type PiiAction = 'block' | 'redact' | 'flag';
export type Trust = 'local' | 'trusted';

export interface CompiledPolicy {
  name: string;
  lexiconInput: ReadonlyMap<string, LexiconAction>;
  lexiconOutput: ReadonlyMap<string, LexiconAction>;
  piiInput: ReadonlyMap<PiiKind, { action: PiiAction; reversible: boolean }>;
  piiOutput: ReadonlyMap<PiiKind, PiiAction>;
  privacy?: { kinds: ReadonlySet<PiiKind>; allow: ReadonlySet<Trust> };
  /** Kinds the input detector looks for: those with an input rule and the privacy kinds. */
  inputKinds: ReadonlySet<PiiKind>;
  outputKinds: ReadonlySet<PiiKind>;
  /** Whether any reversible redaction may happen (then answers are restored). */
  reversible: boolean;
  mask: string;
  refusal: string;
}

function compile(name: string, p: SafetyPolicyConfig): CompiledPolicy {
  const lexiconInput = new Map<string, LexiconAction>();
  const lexiconOutput = new Map<string, LexiconAction>();
  for (const [category, rule] of Object.entries(p.lexicon)) {
    if (rule.input) lexiconInput.set(category, rule.input);
    if (rule.output) lexiconOutput.set(category, rule.output);
  }
  const piiInput = new Map<PiiKind, { action: PiiAction; reversible: boolean }>();
  const piiOutput = new Map<PiiKind, PiiAction>();
  // Groups first, so that a kind named on its own wins over its group.
  const entries = Object.entries(p.pii).sort(([a], [b]) => Number(isGroup(b)) - Number(isGroup(a)));
  for (const [names, rule] of entries) {
    if (!rule) continue;
    for (const kind of expandKinds([names])) {
      if (rule.input) piiInput.set(kind, { action: rule.input, reversible: rule.reversible });
      else piiInput.delete(kind);
      if (rule.output) piiOutput.set(kind, rule.output);
      else piiOutput.delete(kind);
    }
  }
  const privacy = p.privacy ? { kinds: new Set(expandKinds(p.privacy.kinds)), allow: new Set<Trust>(p.privacy.allow) } : undefined;
  const inputKinds = new Set<PiiKind>([...piiInput.keys(), ...(privacy?.kinds ?? [])]);
  return {
    name,
    lexiconInput,
    lexiconOutput,
    piiInput,
    piiOutput,
    ...(privacy ? { privacy } : {}),
    inputKinds,
    outputKinds: new Set(piiOutput.keys()),
    reversible: [...piiInput.values()].some((r) => r.action === 'redact' && r.reversible),
    mask: p.mask,
    refusal: p.refusal,
  };
}

const isGroup = (n: string) => n === 'pii' || n === 'secrets';

/** Whether a policy does anything at all (an empty one is skipped on the request path). */
export function isActive(p: CompiledPolicy): boolean {
  return p.lexiconInput.size + p.lexiconOutput.size + p.inputKinds.size + p.outputKinds.size > 0;
}

const compiled = new WeakMap<SafetyConfig, Map<string, CompiledPolicy>>();

/** The compiled policies of a config (compiled once per config object). */
export function compilePolicies(safety: SafetyConfig): Map<string, CompiledPolicy> {
  let m = compiled.get(safety);
  if (!m) {
    m = new Map(Object.entries(safety.policies).map(([n, p]) => [n, compile(n, p)]));
    compiled.set(safety, m);
  }
  return m;
}

const own = (record: Record<string, string>, key: string | undefined): string | undefined =>
  key !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;

/**
 * The policy of a request: the key's (`safety.keys`), else its team's (`safety.teams`), else
 * the route's (`routes.<name>.safety`), else `safety.default`; undefined when none applies or
 * the one that applies does nothing.
 */
export function policyFor(safety: SafetyConfig, identity: Identity | undefined, route: RouteConfig | undefined): CompiledPolicy | undefined {
  const name = own(safety.keys, identity?.keyId) ?? own(safety.teams, identity?.team) ?? route?.safety ?? safety.default;
  if (name === undefined) return undefined;
  const p = compilePolicies(safety).get(name);
  return p && isActive(p) ? p : undefined;
}
