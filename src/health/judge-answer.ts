import type { ChatRequest } from '../core/chat-request.js';
import type { ChatResponse } from '../core/chat-response.js';

/**
 * Whether a shadow answer is sane enough to trust the target with live traffic again: every
 * choice says something (text or tool calls), tool-call arguments are JSON, and text is JSON
 * when the request asked for a JSON response format. Returns why not, or undefined when sane.
 *
 * json_schema answers are checked for JSON only, not against the schema: the router has no
 * schema validator, and a provider that honours JSON mode but misreads a schema is rare next
 * to one that answers prose or nothing while it recovers.
 */
export function judgeAnswer(req: ChatRequest, res: ChatResponse): string | undefined {
  if (!res.choices.length) return 'no choices';
  const wantsJson = req.params.responseFormat?.type === 'json_object' || req.params.responseFormat?.type === 'json_schema';
  for (const choice of res.choices) {
    const text = choice.message.content ?? '';
    const calls = choice.message.toolCalls ?? [];
    if (!text.trim() && !calls.length) return `empty output (finish: ${choice.finishReason})`;
    for (const call of calls) {
      if (!isJson(call.function.arguments || '{}')) return `tool call ${call.function.name}: arguments are not valid JSON`;
    }
    // A reply cut short by the app's own max_tokens is the request's limit, not the target's fault.
    if (wantsJson && !calls.length && choice.finishReason !== 'length' && !isJsonObject(text)) return 'response is not valid JSON though a JSON response format was asked';
  }
  return undefined;
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** JSON mode promises an object; a bare string or number means the mode was ignored. */
function isJsonObject(text: string): boolean {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null;
  } catch {
    return false;
  }
}
