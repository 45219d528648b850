/**
 * Prompt tokens of function (tool) definitions, by the approximation in OpenAI's cookbook
 * "How to count tokens with tiktoken", section 7 (`num_tokens_for_tools`). OpenAI does not
 * publish how it renders tools into the prompt; the cookbook's constants reproduce the API's
 * count exactly for its example (101 tokens on gpt-4o/gpt-4o-mini, 105 on gpt-4/gpt-3.5,
 * which the tests check). The formula, per request with at least one tool:
 *
 *   Σ over functions [ FUNC_INIT + tokens(`${name}:${description without a final "."}`)
 *     + (properties? PROP_INIT + Σ over top-level properties [ PROP_KEY
 *         + tokens(`${key}:${type}:${description without a final "."}`)
 *         + (enum? ENUM_INIT + Σ over items (ENUM_ITEM + tokens(item))) ]) ]
 *   + FUNC_END
 *
 * FUNC_INIT is 7 on o200k models (gpt-4o…) and 10 on cl100k ones (gpt-4, gpt-3.5);
 * PROP_INIT = PROP_KEY = ENUM_ITEM = 3, ENUM_INIT = −3, FUNC_END = 12.
 *
 * Accuracy: exact on flat schemas like the cookbook's. The cookbook ignores anything else a
 * property holds (nested `properties`, `items`, `anyOf`, `format`…); here those keys are
 * counted as the tokens of their JSON text, an over-estimate of a few tokens each (the real
 * rendering is a terser TypeScript-like form). Newer models (o-series, gpt-4.1, gpt-5) are
 * counted with the gpt-4o constants, unverified against the API.
 */
import type { ToolDef } from '../core/chat-request.js';
import type { TokenCounter } from '../routing/token-count.js';
import type { EncodingName } from './model-family.js';

const PROP_INIT = 3;
const PROP_KEY = 3;
const ENUM_INIT = -3;
const ENUM_ITEM = 3;
const FUNC_END = 12;
const funcInit = (encoding: EncodingName) => (encoding === 'cl100k_base' ? 10 : 7);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const withoutFinalDot = (s: unknown) => (typeof s === 'string' ? s.replace(/\.$/, '') : '');
const typeText = (t: unknown) => (typeof t === 'string' ? t : Array.isArray(t) ? t.join(' | ') : '');
/** Keys of a property the cookbook's formula accounts for; any other is counted as JSON. */
const MODELLED = new Set(['type', 'description', 'enum']);

/**
 * Adds the text of `tools` to `counter` (so it shares the request's bounded budget) and
 * returns the formula's fixed tokens, to be added to the counter's count.
 */
export async function addToolDefinitions(tools: readonly ToolDef[] | undefined, encoding: EncodingName, counter: TokenCounter): Promise<number> {
  if (!tools?.length) return 0;
  let fixed = FUNC_END;
  for (const tool of tools) {
    const fn = tool.function;
    fixed += funcInit(encoding);
    await counter.add(`${fn.name}:${withoutFinalDot(fn.description)}`);
    const props = isRecord(fn.parameters) ? fn.parameters.properties : undefined;
    if (!isRecord(props) || Object.keys(props).length === 0) continue;
    fixed += PROP_INIT;
    for (const [key, raw] of Object.entries(props)) {
      fixed += PROP_KEY;
      const prop = isRecord(raw) ? raw : {};
      if (Array.isArray(prop.enum)) {
        fixed += ENUM_INIT;
        for (const item of prop.enum) {
          fixed += ENUM_ITEM;
          await counter.add(typeof item === 'string' ? item : JSON.stringify(item) ?? '');
        }
      }
      await counter.add(`${key}:${typeText(prop.type)}:${withoutFinalDot(prop.description)}`);
      const rest = Object.fromEntries(Object.entries(prop).filter(([k]) => !MODELLED.has(k)));
      if (Object.keys(rest).length) await counter.add(JSON.stringify(rest));
    }
  }
  return fixed;
}
