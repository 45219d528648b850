/**
 * `safety` (lexicon filters, PII and secret detectors, privacy routing) and `audit` (the
 * tamper-evident audit log) sections of the config. Policies are named rule sets; a request
 * gets the policy of its key, else of its team, else of its route, else `safety.default`.
 */
import { z } from 'zod';
import { PII_GROUPS, PII_KINDS } from '../safety/pii/kinds.js';

const NAME = /^[A-Za-z0-9_.-]+$/;
const name = (what: string) => z.string().regex(NAME, `${what}: letters, digits, ".", "_" or "-"`);

export const lexiconListSchema = z.strictObject({
  file: z.string().min(1).describe('Word list: UTF-8 text, one term a line, "#" starts a comment line; relative to the config file.'),
  category: name('a category').describe('Category the list belongs to (e.g. politics, adult, violence); rules name categories.'),
  wordBoundary: z.boolean().default(true).describe('Match whole words only (letters/digits may not touch the match); false for CJK lists.'),
  separators: z.boolean().default(false).describe('Also match terms spelled with separators between letters (b.a.d, b-a-d, b_a_d, b*a*d).'),
});

const lexiconAction = z.enum(['block', 'mask', 'flag']);
export const lexiconRuleSchema = z.strictObject({
  input: lexiconAction.optional().describe('On a match in the prompt: block (400 content_policy_violation), mask (rewritten before it leaves), flag (counted and recorded).'),
  output: lexiconAction.optional().describe('On a match in the answer: block (the route\'s refusal, finish_reason content_filter), mask, flag.'),
});

const piiAction = z.enum(['block', 'redact', 'flag']);
const piiNames = [...PII_KINDS, ...Object.keys(PII_GROUPS)] as [string, ...string[]];
export const piiRuleSchema = z.strictObject({
  input: piiAction.optional().describe('On a finding in the prompt: block (400 content_policy_violation), redact (placeholders such as <EMAIL_1>), flag.'),
  output: piiAction.optional().describe('On a finding in the answer (of values the prompt did not carry): block, redact (a non-reversible placeholder), flag.'),
  reversible: z.boolean().default(false).describe('redact only: put the original values back into the answer (streamed or not) before it reaches the app.'),
});

export const privacyRuleSchema = z.strictObject({
  kinds: z.array(z.enum(piiNames)).min(1).describe('PII kinds (or the groups pii, secrets) that keep a request off untrusted targets.'),
  allow: z.array(z.enum(['local', 'trusted'])).min(1).default(['local', 'trusted']).describe('Target trust levels such a request may go to.'),
});

export const safetyPolicySchema = z.strictObject({
  lexicon: z.record(name('a category'), lexiconRuleSchema).default({}).describe('Actions per lexicon category and direction.'),
  pii: z.partialRecord(z.enum(piiNames), piiRuleSchema).default({}).describe('Actions per PII kind (or group: pii, secrets) and direction; a kind named itself wins over its group.'),
  privacy: privacyRuleSchema.optional().describe('Requests carrying these PII kinds go only to targets of these trust levels (said in x-router-privacy), or get 503/400.'),
  mask: z.string().min(1).max(8).default('*').describe('Mask written for each masked character.'),
  refusal: z.string().min(1).max(2_000).default('I can\'t help with that.').describe('Answer that replaces a blocked output.'),
});

export const safetySchema = z.strictObject({
  lexicons: z.record(name('a list id'), lexiconListSchema).default({}).describe('Word lists by id.'),
  maxTerms: z.number().int().min(1).max(10_000_000).default(1_000_000).describe('Most terms over all lists (a bigger lexicon is refused).'),
  policies: z.record(name('a policy name'), safetyPolicySchema).default({}).describe('Named rule sets.'),
  default: name('a policy name').optional().describe('Policy of requests whose key, team and route name none.'),
  keys: z.record(z.string().min(1), name('a policy name')).default({}).describe('Policy per key id (virtual key id, jwt:<subject>, key-0 …); wins over team and route.'),
  teams: z.record(z.string().min(1), name('a policy name')).default({}).describe('Policy per team; wins over the route\'s.'),
  entropyThreshold: z.number().min(1).max(8).default(4).describe('Bits per character above which a long token counts as a high_entropy secret.'),
  minEntropyLength: z.number().int().min(8).max(1_000).default(20).describe('Shortest token the high_entropy detector considers.'),
});

export const auditSchema = z.strictObject({
  enabled: z.boolean().default(false).describe('Write the audit log: one JSON line per request and per filter decision.'),
  captureText: z.boolean().default(false).describe('Also record message and answer text (always after masking and redaction).'),
  dir: z.string().min(1).default('audit').describe('Folder of the audit files, relative to state.dataDir.'),
  maxFileBytes: z.number().int().min(4_096).default(64 * 1024 * 1024).describe('Size at which a file is rotated (files also rotate each UTC day).'),
  maxQueue: z.number().int().min(10).max(10_000_000).default(10_000).describe('Lines waiting to be written; beyond it lines are dropped and counted.'),
  flushIntervalMs: z.number().int().min(10).max(60_000).default(200).describe('Interval of the batched write + fsync.'),
  redis: z
    .strictObject({
      url: z.string().min(1).describe('redis:// URL.'),
      stream: z.string().min(1).default('llm-router:audit').describe('Stream key (XADD).'),
      maxLen: z.number().int().min(1).default(1_000_000).describe('Approximate stream length kept (MAXLEN ~).'),
    })
    .optional()
    .describe('Also append every line to a Redis stream.'),
});

export type SafetyConfig = z.infer<typeof safetySchema>;
export type SafetyPolicyConfig = z.infer<typeof safetyPolicySchema>;
export type AuditConfig = z.infer<typeof auditSchema>;

type Problem = { path: Array<string | number>; message: string };

/** Policy names that must exist, lexicon categories rules name. Run on the raw tree, like crossCheckConfig. */
export function crossCheckSafety(raw: unknown): Problem[] {
  const out: Problem[] = [];
  if (!raw || typeof raw !== 'object') return out;
  const { safety, routes } = raw as { safety?: unknown; routes?: unknown };
  const s = (safety && typeof safety === 'object' ? safety : {}) as Record<string, unknown>;
  const policies = s.policies && typeof s.policies === 'object' ? (s.policies as Record<string, unknown>) : {};
  const known = Object.keys(policies);
  const check = (p: unknown, at: Array<string | number>) => {
    if (typeof p === 'string' && !Object.hasOwn(policies, p)) out.push({ path: at, message: `unknown safety policy "${p}"; expected one of: ${known.join(', ') || '(none defined in safety.policies)'}` });
  };
  check(s.default, ['safety', 'default']);
  for (const section of ['keys', 'teams'] as const) {
    const m = s[section];
    if (m && typeof m === 'object') for (const [k, v] of Object.entries(m)) check(v, ['safety', section, k]);
  }
  if (routes && typeof routes === 'object') {
    for (const [r, route] of Object.entries(routes)) check((route as { safety?: unknown } | null)?.safety, ['routes', r, 'safety']);
  }
  const lists = s.lexicons && typeof s.lexicons === 'object' ? Object.values(s.lexicons as Record<string, unknown>) : [];
  const categories = new Set(lists.map((l) => (l as { category?: unknown } | null)?.category).filter((c): c is string => typeof c === 'string'));
  for (const [p, policy] of Object.entries(policies)) {
    const lexicon = (policy as { lexicon?: unknown } | null)?.lexicon;
    if (!lexicon || typeof lexicon !== 'object') continue;
    for (const category of Object.keys(lexicon)) {
      if (!categories.has(category)) {
        out.push({ path: ['safety', 'policies', p, 'lexicon', category], message: `no list in safety.lexicons has category "${category}"; known: ${[...categories].join(', ') || '(none)'}` });
      }
    }
  }
  return out;
}
