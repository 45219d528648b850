import { z } from 'zod';

/**
 * Config pieces of identity, for the lead to place under `auth` in src/config/schema.ts:
 * `auth.keySecret` ({@link keySecretSchema}), `auth.virtualKeys` ({@link virtualKeysSchema}) and
 * `auth.jwt` ({@link jwtSchema}). `${ENV}` references are already resolved when these run
 * (an unset one has removed its field).
 */

/** Names that would reach an object's prototype if ever used as a plain-object key. */
const PROTO_NAMES = new Set(['__proto__', 'constructor', 'prototype']);

/** A config key id: letters, digits, `.`, `_`, `-`; `key_…` and `key-<n>` are taken by API and legacy keys. */
export const keyIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, ".", "_" or "-" (first a letter or digit, at most 64)')
  .refine((id) => !id.startsWith('key_') && !/^key-\d+$/.test(id), 'ids starting with "key_" (admin API keys) or "key-<n>" (auth.keys entries) are reserved')
  .describe('Stable id named by logs, metrics, limits and usage.');

/** Rate limits of a key or tier (config and admin API alike). */
export const limitsSchema = z
  .strictObject({
    rpm: z.number().int().positive().optional().describe('Requests per minute.'),
    tpm: z.number().int().positive().optional().describe('Tokens per minute (prompt + max_tokens reserved, reconciled with real usage).'),
    maxInFlight: z.number().int().positive().optional().describe('Requests in flight at once.'),
  })
  .describe('Rate limits; an absent field is no limit.');

/** A spend budget. */
export const budgetSchema = z
  .strictObject({
    amountUsd: z.number().nonnegative().describe('Hard spend limit in USD per period; past it requests get 429 insufficient_quota.'),
    period: z.enum(['day', 'month', 'total']).describe('UTC day, UTC month, or the key\'s whole life.'),
    softRatio: z.number().gt(0).max(1).optional().describe('Share of the amount (0–1] at which a warning is logged and the webhook called.'),
  })
  .describe('Spend budget.');

/** The routes a key may call. */
export const routeListSchema = z
  .array(z.string().min(1).max(200))
  .max(1_000)
  .refine((r) => new Set(r).size === r.length, 'routes must not repeat')
  .describe('Routes (model names apps send) this caller may use; "*" for all. Absent: every route.');

/** Operator labels; prototype-reaching names are refused (and zod never assigns `__proto__`). */
export const metadataSchema = z
  .record(
    z
      .string()
      .regex(/^[A-Za-z0-9_.:/-]{1,64}$/, 'metadata keys: 1–64 letters, digits or "_.:/-"')
      .refine((k) => !PROTO_NAMES.has(k), 'this metadata key is reserved'),
    z.string().max(512),
  )
  .refine((m) => Object.keys(m).length <= 32, 'at most 32 metadata entries')
  .describe('Free-form labels (string values) for operators; never sent upstream.');

/** An ISO 8601 time with a zone (Z or an offset). */
export const expiresAtSchema = z.iso.datetime({ offset: true }).describe('ISO 8601 time after which the key no longer works, e.g. 2026-01-31T00:00:00Z.');

/** One config-declared (GitOps) virtual key. */
export const virtualKeySchema = z
  .strictObject({
    id: keyIdSchema,
    name: z.string().min(1).max(200).describe('Human-readable name.'),
    team: z.string().min(1).max(200).optional().describe('Owning team (budgets and usage group by it).'),
    routes: routeListSchema.optional(),
    limits: limitsSchema.optional(),
    budget: budgetSchema.optional(),
    metadata: metadataSchema.optional(),
    expiresAt: expiresAtSchema.optional(),
    secret: z.string().min(16, 'a key secret needs at least 16 characters').max(512).optional().describe('The secret apps send, normally "${ENV_VAR}" (never a literal in a committed file). Unset variable: the key is disabled, not a crash.'),
    hash: z
      .string()
      .regex(/^hmac-sha256:[0-9a-f]{64}$/, '"hmac-sha256:" and 64 lowercase hex digits (printf %s "$SECRET" | openssl dgst -sha256 -hmac "$KEY_SECRET")')
      .optional()
      .describe('Instead of secret: "hmac-sha256:<hex>" of the secret keyed with auth.keySecret, so the file holds no secret at all.'),
  })
  .refine((k) => !(k.secret !== undefined && k.hash !== undefined), { path: ['hash'], message: 'give either secret or hash, not both' });

/** `auth.virtualKeys`: keys declared in the config, read-only through the admin API. */
export const virtualKeysSchema = z
  .array(virtualKeySchema)
  .superRefine((keys, ctx) => {
    const seen = new Set<string>();
    keys.forEach((k, i) => {
      if (seen.has(k.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate key id "${k.id}"` });
      seen.add(k.id);
    });
  })
  .describe('Virtual keys declared in the config (GitOps): synced into the key store at start and on reload; read-only through the admin API.');

/** `auth.keySecret`: the HMAC key of stored key hashes. */
export const keySecretSchema = z
  .string()
  .min(32, 'at least 32 characters (e.g. openssl rand -base64 32)')
  .describe('Server secret keying stored key hashes, normally "${ROUTER_KEY_SECRET}". Every instance sharing a key store must use the same one. Absent: generated into <dataDir>/key-secret (mode 600).');

/** Algorithms a JWT may be signed with (`none` is never among them). */
export const JWT_ALGORITHMS = ['RS256', 'ES256', 'EdDSA', 'HS256'] as const;
/** One of {@link JWT_ALGORITHMS}. */
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];
const ASYMMETRIC: readonly JwtAlgorithm[] = ['RS256', 'ES256', 'EdDSA'];

/** Limits a JWT's tier claim selects. */
export const tierSchema = z
  .strictObject({
    rpm: limitsSchema.shape.rpm,
    tpm: limitsSchema.shape.tpm,
    maxInFlight: limitsSchema.shape.maxInFlight,
    budget: budgetSchema.optional(),
  })
  .describe('Limits and budget for tokens naming this tier.');

const claimName = z.string().min(1).max(200);

/** `auth.jwt`: tokens from an identity provider instead of (or beside) virtual keys. */
export const jwtSchema = z
  .strictObject({
    issuer: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).describe('Accepted "iss" value(s).'),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).describe('Accepted "aud" value(s): tokens minted for another service are refused.'),
    algorithms: z
      .array(z.enum(JWT_ALGORITHMS))
      .min(1)
      .refine((a) => new Set(a).size === a.length, 'algorithms must not repeat')
      .optional()
      .describe('Accepted "alg" values. Default: RS256, ES256, EdDSA with a JWKS, plus HS256 when secret is set.'),
    jwksFile: z.string().min(1).optional().describe('JWKS file (public keys); re-read when it changes or a token names a kid it lacks.'),
    jwksUrl: z
      .url()
      .refine((u) => /^https:\/\//i.test(u) || /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\//i.test(u), 'https:// (plain http only on loopback)')
      .optional()
      .describe('JWKS endpoint of the identity provider; cached, refreshed, and fetched again (at most once per cooldown) for an unknown kid.'),
    secret: z.string().min(32, 'an HS256 secret needs at least 32 characters').optional().describe('Shared secret for HS256 tokens, normally "${ENV_VAR}".'),
    clockSkewSeconds: z.number().int().min(0).max(300).default(30).describe('Tolerance for exp/nbf/iat between the issuer\'s clock and ours.'),
    jwksCacheMaxAgeSeconds: z.number().int().positive().default(600).describe('jwksUrl: keys are fetched again after this long.'),
    jwksCooldownSeconds: z.number().int().min(0).default(30).describe('jwksUrl: least time between two fetches caused by unknown kids (bounds what forged kids can cost).'),
    jwksTimeoutMs: z.number().int().positive().default(5_000).describe('jwksUrl: timeout of one fetch.'),
    claims: z
      .strictObject({
        keyId: claimName.default('sub').describe('Claim naming the caller (its limits and usage are kept under jwt:<value>).'),
        name: claimName.default('name').describe('Claim with a display name (optional in tokens).'),
        team: claimName.default('team').describe('Claim naming the team, e.g. org_id.'),
        routes: claimName.default('routes').describe('Claim listing allowed routes: an array or a space-separated string. Absent in a token: every route.'),
        tier: claimName.default('tier').describe('Claim naming a tier of auth.jwt.tiers.'),
      })
      .prefault({})
      .describe('Which claims carry what (a name is looked up as is, then as a dotted path).'),
    tiers: z.record(z.string().min(1).max(100).refine((k) => !PROTO_NAMES.has(k), 'this tier name is reserved'), tierSchema).default({}).describe('Limit tiers by name, selected by the tier claim.'),
    defaultTier: z.string().min(1).optional().describe('Tier of tokens without a tier claim (absent: no limits from a tier).'),
  })
  .superRefine((j, ctx) => {
    const hasJwks = j.jwksFile !== undefined || j.jwksUrl !== undefined;
    if (!hasJwks && j.secret === undefined) ctx.addIssue({ code: 'custom', path: ['jwksUrl'], message: 'give jwksUrl, jwksFile or secret: there is no key to verify tokens with' });
    if (j.jwksFile !== undefined && j.jwksUrl !== undefined) ctx.addIssue({ code: 'custom', path: ['jwksFile'], message: 'give jwksFile or jwksUrl, not both' });
    if (j.algorithms) {
      if (j.algorithms.includes('HS256') && j.secret === undefined) ctx.addIssue({ code: 'custom', path: ['algorithms'], message: 'HS256 needs secret' });
      if (!j.algorithms.includes('HS256') && j.secret !== undefined) ctx.addIssue({ code: 'custom', path: ['secret'], message: 'secret is set but HS256 is not in algorithms' });
      if (j.algorithms.some((a) => ASYMMETRIC.includes(a)) && !hasJwks) ctx.addIssue({ code: 'custom', path: ['algorithms'], message: 'RS256, ES256 and EdDSA need jwksUrl or jwksFile' });
    }
    if (j.defaultTier !== undefined && !Object.hasOwn(j.tiers, j.defaultTier)) ctx.addIssue({ code: 'custom', path: ['defaultTier'], message: `no tier "${j.defaultTier}" in tiers` });
  })
  .describe('JWT bearer tokens from an identity provider.');

/** One parsed `auth.virtualKeys` entry. */
export type VirtualKeyConfig = z.infer<typeof virtualKeySchema>;
/** Parsed `auth.jwt` (defaults applied). */
export type JwtConfig = z.infer<typeof jwtSchema>;
/** One parsed tier. */
export type JwtTier = z.infer<typeof tierSchema>;

/** The algorithms in force: the configured list, or the default for the key sources given. */
export function resolveAlgorithms(j: Pick<JwtConfig, 'algorithms' | 'jwksFile' | 'jwksUrl' | 'secret'>): JwtAlgorithm[] {
  if (j.algorithms) return [...j.algorithms];
  const out: JwtAlgorithm[] = j.jwksFile !== undefined || j.jwksUrl !== undefined ? [...ASYMMETRIC] : [];
  if (j.secret !== undefined) out.push('HS256');
  return out;
}
