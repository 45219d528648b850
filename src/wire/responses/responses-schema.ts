/**
 * Strict schemas of an inbound Responses API request (POST /v1/responses): the subset the
 * router serves over its chat path. Strict on purpose: a field the router does not support is a
 * 400 naming it (`param`), never silently dropped, since an app relying on it would otherwise
 * get an answer that quietly ignored it. `null` is accepted wherever OpenAI accepts it, and
 * means "not set".
 */
import { z } from 'zod';

/** Function and schema names, as the chat path requires them. */
const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const name = z.string().regex(NAME, 'a-z, A-Z, 0-9, underscores and dashes, at most 64 characters');

const itemStatus = z.enum(['in_progress', 'completed', 'incomplete']).nullish();

export const inputTextPart = z.strictObject({ type: z.literal('input_text'), text: z.string() });
export const inputImagePart = z.strictObject({
  type: z.literal('input_image'),
  image_url: z.string().min(1).nullish(),
  file_id: z.string().nullish(),
  detail: z.enum(['low', 'high', 'auto']).nullish(),
});
/** An assistant's text, as an earlier response's output item carries it (annotations and logprobs are accepted and not sent on). */
export const outputTextPart = z.strictObject({
  type: z.literal('output_text'),
  text: z.string(),
  annotations: z.array(z.unknown()).nullish(),
  logprobs: z.array(z.unknown()).nullish(),
});
export const refusalPart = z.strictObject({ type: z.literal('refusal'), refusal: z.string() });

/** A `message` item (also the "easy" form without `type`); `id`/`status` come with items copied from an earlier output. */
export const messageItem = z.strictObject({
  type: z.literal('message').optional(),
  role: z.enum(['user', 'assistant', 'system', 'developer']),
  content: z.union([z.string(), z.array(z.looseObject({ type: z.string() })).min(1)], { error: 'expected a string or an array of content parts' }),
  id: z.string().nullish(),
  status: itemStatus,
});

export const functionCallItem = z.strictObject({
  type: z.literal('function_call'),
  call_id: z.string().min(1).max(64),
  name: z.string().min(1),
  arguments: z.string(),
  id: z.string().nullish(),
  status: itemStatus,
});

export const functionCallOutputItem = z.strictObject({
  type: z.literal('function_call_output'),
  call_id: z.string().min(1).max(64),
  output: z.union([z.string(), z.array(z.looseObject({ type: z.string() }))], { error: 'expected a string or an array of content parts' }),
  id: z.string().nullish(),
  status: itemStatus,
});

export const functionTool = z.strictObject({
  type: z.literal('function'),
  name,
  description: z.string().nullish(),
  parameters: z.record(z.string(), z.unknown()).nullish(),
  strict: z.boolean().nullish(),
});

export const toolChoiceSchema = z.union(
  [z.enum(['none', 'auto', 'required']), z.strictObject({ type: z.literal('function'), name: z.string().min(1) })],
  { error: "expected 'none', 'auto', 'required' or {\"type\": \"function\", \"name\": …} (the router serves function tools only)" },
);

export const textFormatSchema = z.discriminatedUnion(
  'type',
  [
    z.strictObject({ type: z.literal('text') }),
    z.strictObject({ type: z.literal('json_object') }),
    z.strictObject({
      type: z.literal('json_schema'),
      name,
      schema: z.record(z.string(), z.unknown()),
      description: z.string().nullish(),
      strict: z.boolean().nullish(),
    }),
  ],
  { error: "expected a format of type 'text', 'json_object' or 'json_schema'" },
);

const metadata = z
  .record(z.string().max(64), z.string().max(512))
  .refine((m) => Object.keys(m).length <= 16, 'at most 16 keys');

export const responsesRequestSchema = z.strictObject({
  model: z.string().min(1),
  input: z.union([z.string(), z.array(z.unknown())], { error: 'expected a string or an array of input items' }).nullish(),
  instructions: z.string().nullish(),
  // Items are checked one by one (responses-input.ts, parse-responses-request.ts), to name `tools[i].type`.
  tools: z.array(z.unknown()).max(128).nullish(),
  tool_choice: z.unknown().optional(),
  text: z.strictObject({ format: z.unknown().optional() }).nullish(),
  max_output_tokens: z.number().int().min(16).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  stream: z.boolean().nullish(),
  store: z.boolean().nullish(),
  previous_response_id: z.string().min(1).nullish(),
  metadata: metadata.nullish(),
  user: z.string().nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  // Accepted at their defaults only (SDKs and copied requests send them): anything else is not served.
  background: z.literal(false, { error: 'background responses are not served by the router; omit it or send false' }).nullish(),
  truncation: z.literal('disabled', { error: "only 'disabled' is served: a conversation that does not fit is refused" }).nullish(),
  include: z.array(z.string()).max(0, 'the router includes no extra output data; omit it or send []').nullish(),
});

export type WireResponsesRequest = z.output<typeof responsesRequestSchema>;
export type WireFunctionTool = z.output<typeof functionTool>;
export type WireToolChoice = z.output<typeof toolChoiceSchema>;
export type WireTextFormat = z.output<typeof textFormatSchema>;
