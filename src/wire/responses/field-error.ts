/** A 400 naming the request field at fault, for the adapter endpoints (/v1/responses, /v1/completions). */
import type { z } from 'zod';
import { findTooDeep } from '../json-depth.js';
import { DEFAULT_MAX_DEPTH } from '../parse-chat-request.js';
import { formatParam, isObj, WireValidationError } from '../wire-common.js';

export class FieldError extends WireValidationError {
  constructor(
    message: string,
    param: string | null,
    /** OpenAI's error code: `unknown_parameter`, `unsupported_parameter`, `invalid_value`, `missing_required_parameter`. */
    readonly code: string = 'invalid_value',
  ) {
    super(message, param);
    this.name = 'FieldError';
  }
}

/** The adapters' first check of a body: a JSON object, nested no deeper than `maxDepth` (else the 400 naming its top field). */
export function checkBodyShape(body: unknown, maxDepth: number = DEFAULT_MAX_DEPTH): asserts body is Record<string, unknown> {
  if (!isObj(body)) throw new FieldError('The request body must be a JSON object.', null);
  const deep = findTooDeep(body, maxDepth);
  if (deep) {
    const top = formatParam(deep.slice(0, 1));
    throw new FieldError(`Invalid value for '${top}': nested deeper than ${maxDepth} levels.`, top || null);
  }
}

/** `base` + `path` as OpenAI writes `param` (`input[2].content[0].file_id`). */
export function joinParam(base: ReadonlyArray<PropertyKey>, path: ReadonlyArray<PropertyKey> = []): string {
  return formatParam([...base, ...path]);
}

/**
 * The error for a failed strict parse: an unknown field first (the likelier mistake, and the
 * one a silent drop would hide), else the first issue. `base`: where the parsed value sits.
 */
export function fieldErrorOf(error: z.ZodError, base: ReadonlyArray<PropertyKey> = []): FieldError {
  const issues = error.issues;
  const unknown = issues.find((i) => i.code === 'unrecognized_keys');
  if (unknown && unknown.code === 'unrecognized_keys') {
    const param = joinParam(base, [...unknown.path, unknown.keys[0]!]);
    return new FieldError(`Unknown parameter: '${param}'.`, param, 'unknown_parameter');
  }
  const issue = issues[0]!;
  const param = joinParam(base, issue.path);
  if (issue.code === 'invalid_type' && issue.message.endsWith('received undefined')) return new FieldError(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter');
  return new FieldError(param ? `Invalid value for '${param}': ${issue.message}` : issue.message, param || null);
}
