/**
 * Responses `input` → chat messages. Items map one to one, except that consecutive
 * `function_call` items (and an assistant message just before them) become one assistant
 * message with `tool_calls`, as the chat protocol needs them, and each `function_call_output`
 * becomes a `tool` message.
 */
import type { z } from 'zod';
import type { ChatMessage, ContentPart, ToolCall } from '../../core/chat-request.js';
import { isObj } from '../wire-common.js';
import { FieldError, fieldErrorOf, joinParam } from './field-error.js';
import { functionCallItem, functionCallOutputItem, inputImagePart, inputTextPart, messageItem, outputTextPart, refusalPart } from './responses-schema.js';

type Path = ReadonlyArray<PropertyKey>;

function parse<T extends z.ZodType>(schema: T, value: unknown, path: Path): z.output<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw fieldErrorOf(r.error, path);
  return r.data;
}

/** A user, system or developer message's parts: text and images (an image by URL or data URL; uploaded file ids are not served). */
function inputParts(parts: ReadonlyArray<{ type: string }>, path: Path, images: boolean): string | ContentPart[] {
  const out: ContentPart[] = parts.map((part, j) => {
    const at = [...path, j];
    if (part.type === 'input_text') return { type: 'text', text: parse(inputTextPart, part, at).text };
    if (part.type === 'input_image' && images) {
      const img = parse(inputImagePart, part, at);
      if (img.file_id != null) throw new FieldError('Uploaded files are not served by the router: send the image as image_url (a URL or a data: URL).', joinParam(at, ['file_id']), 'unsupported_parameter');
      if (img.image_url == null) throw new FieldError(`Missing required parameter: '${joinParam(at, ['image_url'])}'.`, joinParam(at, ['image_url']), 'missing_required_parameter');
      return { type: 'image_url', image_url: { url: img.image_url, ...(img.detail ? { detail: img.detail } : {}) } };
    }
    const allowed = images ? "'input_text' or 'input_image'" : "'input_text'";
    throw new FieldError(`Invalid value: '${part.type}'. Supported values are: ${allowed}.`, joinParam(at, ['type']), 'invalid_value');
  });
  // One text part is sent as plain content: what most upstreams and local templates read best.
  return out.length === 1 && out[0]!.type === 'text' ? (out[0] as { text: string }).text : out;
}

/** An assistant message's parts: its text (output_text parts, joined) and a refusal. */
function assistantParts(parts: ReadonlyArray<{ type: string }>, path: Path): { text: string; refusal?: string } {
  let text = '';
  let refusal: string | undefined;
  parts.forEach((part, j) => {
    const at = [...path, j];
    if (part.type === 'output_text') text += parse(outputTextPart, part, at).text;
    else if (part.type === 'refusal') refusal = (refusal ?? '') + parse(refusalPart, part, at).refusal;
    else throw new FieldError(`Invalid value: '${part.type}'. Supported values are: 'output_text' and 'refusal'.`, joinParam(at, ['type']), 'invalid_value');
  });
  return refusal === undefined ? { text } : { text, refusal };
}

/** A function's output: a string, or text parts (joined). */
function toolOutput(output: string | ReadonlyArray<{ type: string }>, path: Path): string {
  if (typeof output === 'string') return output;
  return output
    .map((part, j) => {
      if (part.type !== 'input_text') throw new FieldError(`Invalid value: '${part.type}'. A function call output is served as text only: 'input_text'.`, joinParam(path, [j, 'type']), 'invalid_value');
      return parse(inputTextPart, part, [...path, j]).text;
    })
    .join('');
}

/** The chat messages of `input` (a string: one user message). Throws FieldError naming `input[i]…`. */
export function inputToMessages(input: string | readonly unknown[]): ChatMessage[] {
  if (typeof input === 'string') return [{ role: 'user', content: input }];
  const out: ChatMessage[] = [];
  input.forEach((raw, i) => {
    const at = ['input', i];
    if (!isObj(raw)) throw new FieldError(`Invalid value for '${joinParam(at)}': expected an input item object.`, joinParam(at));
    const type = raw.type ?? 'message';
    switch (type) {
      case 'message': {
        const m = parse(messageItem, raw, at);
        if (m.role === 'assistant') {
          const { text, refusal } = typeof m.content === 'string' ? { text: m.content, refusal: undefined } : assistantParts(m.content, [...at, 'content']);
          out.push({ role: 'assistant', content: text, ...(refusal !== undefined ? { refusal } : {}) });
        } else {
          const content = typeof m.content === 'string' ? m.content : inputParts(m.content, [...at, 'content'], m.role === 'user');
          out.push({ role: m.role, content });
        }
        return;
      }
      case 'function_call': {
        const c = parse(functionCallItem, raw, at);
        const call: ToolCall = { id: c.call_id, type: 'function', function: { name: c.name, arguments: c.arguments } };
        const last = out[out.length - 1];
        // Calls of one turn go on one assistant message (with its text, when it came just before).
        if (last?.role === 'assistant') last.toolCalls = [...(last.toolCalls ?? []), call];
        else out.push({ role: 'assistant', content: null, toolCalls: [call] });
        return;
      }
      case 'function_call_output': {
        const o = parse(functionCallOutputItem, raw, at);
        out.push({ role: 'tool', toolCallId: o.call_id, content: toolOutput(o.output, [...at, 'output']) });
        return;
      }
      default:
        throw new FieldError(
          `Invalid value: '${String(type)}'. The router serves input items of type 'message', 'function_call' and 'function_call_output'.`,
          joinParam(at, ['type']),
          'invalid_value',
        );
    }
  });
  return out;
}
