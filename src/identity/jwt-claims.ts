import type { JWTPayload } from 'jose';
import type { JwtConfig } from './identity-schema.js';
import type { Identity, IdentityError } from './types.js';

/** Longest claim value taken as an id, team or name: longer ones are refused rather than put in logs and metric labels. */
const MAX_CLAIM_LENGTH = 256;

/**
 * A claim by name: the name as is first (namespaced claims such as
 * "https://example.com/team" contain dots), then as a dotted path ("org.id"). Own properties only.
 */
export function claimAt(payload: JWTPayload, name: string): unknown {
  if (Object.hasOwn(payload, name)) return payload[name];
  let node: unknown = payload;
  for (const part of name.split('.')) {
    if (!node || typeof node !== 'object' || Array.isArray(node) || !Object.hasOwn(node, part)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/** A non-empty string of bounded length without control characters (it ends up in logs and metric labels). */
const shortString = (v: unknown): v is string =>
  typeof v === 'string' && v.length > 0 && v.length <= MAX_CLAIM_LENGTH && !/[\u0000-\u001f\u007f]/.test(v);

/** Allowed routes from a claim: an array of strings, or one space-separated string (OAuth scope style). */
export function routesFrom(v: unknown): string[] | undefined | null {
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v.split(/\s+/).filter(Boolean);
  if (Array.isArray(v) && v.every((r) => typeof r === 'string')) return v as string[];
  return null;
}

const invalid = (message: string): IdentityError => ({ error: 'invalid_token', message });

/**
 * The identity a verified token stands for. Limits and budget come from the tier the token
 * names (or `defaultTier`); a token naming a tier the router does not know is refused, so a
 * typo in the identity provider never silently means "no limits".
 */
export function identityFromClaims(payload: JWTPayload, cfg: JwtConfig): Identity | IdentityError {
  const claims = cfg.claims;
  const sub = claimAt(payload, claims.keyId);
  if (!shortString(sub)) return invalid(`The token has no usable "${claims.keyId}" claim naming the caller.`);
  const identity: Identity = { kind: 'jwt', keyId: `jwt:${sub}` };

  const name = claimAt(payload, claims.name);
  if (shortString(name)) identity.name = name;

  const team = claimAt(payload, claims.team);
  if (team !== undefined) {
    if (!shortString(team)) return invalid(`The token's "${claims.team}" claim must be a string.`);
    identity.team = team;
  }

  const routes = routesFrom(claimAt(payload, claims.routes));
  if (routes === null) return invalid(`The token's "${claims.routes}" claim must be an array of strings or a space-separated string.`);
  if (routes !== undefined) identity.routes = routes;

  const tierClaim = claimAt(payload, claims.tier);
  if (tierClaim !== undefined && !shortString(tierClaim)) return invalid(`The token's "${claims.tier}" claim must be a string.`);
  const tierName = tierClaim ?? cfg.defaultTier;
  if (tierName !== undefined) {
    if (!Object.hasOwn(cfg.tiers, tierName)) return invalid('The token names a tier this router does not know.');
    const tier = cfg.tiers[tierName];
    identity.tier = tierName;
    if (tier) {
      const limits = Object.fromEntries(Object.entries({ rpm: tier.rpm, tpm: tier.tpm, maxInFlight: tier.maxInFlight }).filter(([, v]) => v !== undefined));
      if (Object.keys(limits).length) identity.limits = limits;
      if (tier.budget) identity.budget = { ...tier.budget };
    }
  }
  return identity;
}
