import { z } from 'zod';
import { budgetSchema, expiresAtSchema, limitsSchema, metadataSchema, routeListSchema } from './identity-schema.js';
import { MAX_GRACE_SECONDS } from './key-service.js';

/** Bodies of the admin key endpoints: strict, so a misspelt field is a 400 naming it rather than silently ignored. */

const name = z.string().trim().min(1).max(200);
const team = z.string().trim().min(1).max(200);

/** POST /keys */
export const createKeyBodySchema = z.strictObject({
  name,
  team: team.optional(),
  routes: routeListSchema.optional(),
  limits: limitsSchema.optional(),
  budget: budgetSchema.optional(),
  metadata: metadataSchema.optional(),
  expiresAt: expiresAtSchema.optional(),
});

/** PATCH /keys/:id — `null` clears a field. */
export const patchKeyBodySchema = z
  .strictObject({
    name: name.optional(),
    team: team.nullable().optional(),
    routes: routeListSchema.nullable().optional(),
    limits: limitsSchema.nullable().optional(),
    budget: budgetSchema.nullable().optional(),
    metadata: metadataSchema.nullable().optional(),
    expiresAt: expiresAtSchema.nullable().optional(),
  })
  .refine((p) => Object.keys(p).length > 0, 'give at least one field to change');

/** POST /keys/:id/rotate */
export const rotateKeyBodySchema = z.strictObject({
  graceSeconds: z.number().int().min(0).max(MAX_GRACE_SECONDS, `at most ${MAX_GRACE_SECONDS} (30 days)`).optional(),
});

/** A zod path as people write it: `limits.rpm`, `routes[1]`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}

/** The first issue of a zod error as the field it names and a message that names it too. */
export function firstIssue(err: z.ZodError): { param: string | null; message: string } {
  const issue = err.issues[0];
  if (!issue) return { param: null, message: 'Invalid request body.' };
  if (issue.code === 'unrecognized_keys') {
    const key = formatPath([...issue.path, issue.keys[0] ?? '']);
    return { param: key, message: `Unrecognized field '${key}'.` };
  }
  const param = issue.path.length ? formatPath(issue.path) : null;
  return { param, message: param ? `${param}: ${issue.message}` : issue.message };
}
