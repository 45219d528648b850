import { describe, expect, it } from 'vitest';
import type { ChatMessage, ChatRequest, ToolDef } from '../../../src/core/chat-request.js';
import { loadEncoder } from '../../../src/accounting/encoders.js';
import { encodingForModel } from '../../../src/accounting/model-family.js';
import { countRequestTokens, countTextTokens } from '../../../src/accounting/token-accounting.js';

function request(messages: ChatMessage[], tools?: ToolDef[]): ChatRequest {
  return { model: 'chat', messages, params: {}, tools, stream: false, includeUsage: false, passthrough: {}, meta: { requestId: 't', receivedAt: 0 } };
}

// The conversations of OpenAI's cookbook "How to count tokens with tiktoken", with the
// prompt_tokens the API returned for them (printed in the notebook).
const COOKBOOK_MESSAGES: ChatMessage[] = [
  { role: 'system', content: 'You are a helpful, pattern-following assistant that translates corporate jargon into plain English.' },
  { role: 'system', name: 'example_user', content: 'New synergies will help drive top-line growth.' },
  { role: 'system', name: 'example_assistant', content: 'Things working well together will increase revenue.' },
  { role: 'system', name: 'example_user', content: "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage." },
  { role: 'system', name: 'example_assistant', content: "Let's talk later when we're less busy about how to do better." },
  { role: 'user', content: "This late pivot means we don't have time to boil the ocean for the client deliverable." },
];

const WEATHER_TOOLS: ToolDef[] = [
  {
    type: 'function',
    function: {
      name: 'get_current_weather',
      description: 'Get the current weather in a given location',
      parameters: {
        type: 'object',
        properties: {
          location: { type: 'string', description: 'The city and state, e.g. San Francisco, CA' },
          unit: { type: 'string', description: 'The unit of temperature to return', enum: ['celsius', 'fahrenheit'] },
        },
        required: ['location'],
      },
    },
  },
];
const WEATHER_MESSAGES: ChatMessage[] = [
  { role: 'system', content: 'You are a helpful assistant that can answer to questions about the weather.' },
  { role: 'user', content: "What's the weather like in San Francisco?" },
];

describe('encoding per model', () => {
  it.each([
    ['gpt-4o', 'o200k_base'],
    ['gpt-4o-2024-08-06', 'o200k_base'],
    ['gpt-4o-mini', 'o200k_base'],
    ['chatgpt-4o-latest', 'o200k_base'],
    ['gpt-4.1', 'o200k_base'],
    ['gpt-4.1-nano-2025-04-14', 'o200k_base'],
    ['gpt-4.5-preview', 'o200k_base'],
    ['o1', 'o200k_base'],
    ['o3-mini', 'o200k_base'],
    ['o4-mini', 'o200k_base'],
    ['gpt-5', 'o200k_base'],
    ['gpt-5-nano', 'o200k_base'],
    ['ft:gpt-4o-mini-2024-07-18:acme::abc123', 'o200k_base'],
    ['qwen2.5-0.5b-instruct', 'o200k_base'],
    ['some-unknown-model', 'o200k_base'],
    ['gpt-4', 'cl100k_base'],
    ['gpt-4-0613', 'cl100k_base'],
    ['gpt-4-turbo', 'cl100k_base'],
    ['GPT-4-32k', 'cl100k_base'],
    ['gpt-3.5-turbo', 'cl100k_base'],
    ['gpt-35-turbo', 'cl100k_base'],
    ['openai/gpt-3.5-turbo-0125', 'cl100k_base'],
    ['text-embedding-3-small', 'cl100k_base'],
    ['text-embedding-ada-002', 'cl100k_base'],
  ])('%s → %s', (model, encoding) => {
    expect(encodingForModel(model)).toBe(encoding);
  });
});

describe('countRequestTokens', () => {
  it("matches the API's counts for the cookbook conversation", async () => {
    const req = request(COOKBOOK_MESSAGES);
    expect(await countRequestTokens(req, 'gpt-4')).toBe(129);
    expect(await countRequestTokens(req, 'gpt-3.5-turbo')).toBe(129);
    expect(await countRequestTokens(req, 'gpt-4o')).toBe(124);
    expect(await countRequestTokens(req, 'gpt-4o-mini')).toBe(124);
  });

  it("matches the API's counts for the cookbook tools example", async () => {
    const req = request(WEATHER_MESSAGES, WEATHER_TOOLS);
    expect(await countRequestTokens(req, 'gpt-4')).toBe(105);
    expect(await countRequestTokens(req, 'gpt-3.5-turbo')).toBe(105);
    expect(await countRequestTokens(req, 'gpt-4o')).toBe(101);
    expect(await countRequestTokens(req, 'gpt-4o-mini')).toBe(101);
  });

  it('counts assistant tool calls and tool results by the cookbook framing', async () => {
    // Spaced JSON: no whitespace-free run over 24 characters, so the count is exact, not estimated.
    const args = '{"location": "Paris, France", "unit": "celsius"}';
    const messages: ChatMessage[] = [
      { role: 'developer', content: 'Answer briefly.' },
      { role: 'user', name: 'alice', content: 'Weather in Paris?' },
      { role: 'assistant', content: null, toolCalls: [{ id: 'call_1', type: 'function', function: { name: 'get_current_weather', arguments: args } }] },
      { role: 'tool', toolCallId: 'call_1', content: '{"temperature":18}' },
    ];
    const enc = await loadEncoder('o200k_base');
    const t = (s: string) => enc.encode(s).length;
    const expected =
      3 + t('developer') + t('Answer briefly.') +
      3 + t('user') + t('Weather in Paris?') + t('alice') + 1 +
      3 + t('assistant') + t('get_current_weather') + t(args) +
      3 + t('tool') + t('{"temperature":18}') +
      3;
    expect(await countRequestTokens(request(messages), 'gpt-4.1')).toBe(expected);
  });

  it('counts text split over content parts like the joined text', async () => {
    const parts = request([{ role: 'user', content: [{ type: 'text', text: 'Describe ' }, { type: 'text', text: 'this picture.' }] }]);
    const plain = request([{ role: 'user', content: 'Describe this picture.' }]);
    expect(await countRequestTokens(parts, 'gpt-4o')).toBe(await countRequestTokens(plain, 'gpt-4o'));
  });

  it('counts special-token text as ordinary text instead of throwing', async () => {
    const n = await countRequestTokens(request([{ role: 'user', content: 'quote <|endoftext|> and <|im_start|>' }]), 'gpt-4o');
    const enc = await loadEncoder('o200k_base');
    expect(n).toBe(3 + 1 + enc.encode('quote <|endoftext|> and <|im_start|>').length + 3);
  });

  it('finishes on pathological input, estimating what it cannot encode cheaply', async () => {
    const oneLetter = 'a'.repeat(1024 * 1024);
    expect(await countRequestTokens(request([{ role: 'user', content: oneLetter }]), 'gpt-4o')).toBe(3 + 1 + oneLetter.length / 4 + 3);
    expect(await countTextTokens(oneLetter, 'gpt-4')).toBe(oneLetter.length / 4);
    // The same run as tool-call arguments and in a tool schema, and many short words past the budget.
    const big = request(
      [
        { role: 'user', content: 'word '.repeat(200_000) },
        { role: 'assistant', content: null, toolCalls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: oneLetter } }] },
      ],
      [{ type: 'function', function: { name: 'f', description: oneLetter, parameters: { type: 'object', properties: { x: { type: 'string', description: oneLetter } } } } }],
    );
    const n = await countRequestTokens(big, 'gpt-4o');
    expect(n).toBeGreaterThan(200_000 + 3 * 262_144);
    expect(n).toBeLessThan(2 * (200_000 + 3 * 262_144));
  });
});

describe('countTextTokens', () => {
  it('counts plain text with the model encoding', async () => {
    const text = 'tiktoken is great!';
    expect(await countTextTokens(text, 'gpt-3.5-turbo')).toBe(6); // the cookbook's cl100k example
    expect(await countTextTokens(text, 'gpt-4o')).toBe((await loadEncoder('o200k_base')).encode(text).length);
    expect(await countTextTokens('', 'gpt-4o')).toBe(0);
  });
});
