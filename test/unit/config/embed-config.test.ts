import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../../src/config/load-config.js';

const providers = `providers:
  openai: { kind: openai, apiKey: sk-test }
  azure: { kind: azure-openai, endpoint: "https://x.openai.azure.com", apiKey: k, deployments: { text-embedding-3-small: emb-small } }
  vllm: { kind: openai, baseURL: "http://127.0.0.1:9/v1", allowNoKey: true }
  local: { kind: llama-cpp, model: tiny }
  mine: { kind: llama-cpp, registry: my-models.yaml }
`;

const config = (routes: string) => `${providers}routes:\n${routes}`;

function problems(text: string) {
  try {
    parseConfig(text, 'router.yaml', {});
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

describe('embeddings routes in the config', () => {
  it('accepts a route whose targets make vectors of one size', () => {
    const loaded = parseConfig(
      config(`  embed:
    kind: embeddings
    targets:
      - { provider: openai, model: text-embedding-3-small }
      - { provider: azure, model: text-embedding-3-small }
      - { provider: vllm, model: my-embedder, dimensions: 1536 }
  local-embed:
    kind: embeddings
    targets:
      - { provider: local, model: tiny }
      - { provider: mine, model: tiny, dimensions: 256 }
`),
      'router.yaml',
      {},
    );
    expect(loaded.config.routes.embed?.kind).toBe('embeddings');
    expect(loaded.config.routes.embed?.targets[2]?.dimensions).toBe(1536);
  });

  it('refuses a fallback between vector sizes, naming the targets and their sizes', () => {
    const p = problems(
      config(`  embed:
    kind: embeddings
    targets:
      - { provider: openai, model: text-embedding-3-small }
      - { provider: openai, model: text-embedding-3-large }
      - { provider: local, model: tiny }
`),
    );
    expect(p).toHaveLength(1);
    expect(p[0]!.path).toBe('routes.embed.targets');
    expect(p[0]!.line).toBe(11); // where the targets list starts
    expect(p[0]!.message).toMatch(/openai\/text-embedding-3-small: 1536, openai\/text-embedding-3-large: 3072, local\/tiny: 256/);
    expect(p[0]!.message).toMatch(/mix vector spaces.*allowMixedDimensions: true/);
  });

  it('asks for dimensions when a target’s size is unknown and the route can fall back', () => {
    const p = problems(
      config(`  embed:
    kind: embeddings
    targets:
      - { provider: vllm, model: my-embedder }
      - { provider: mine, model: tiny }
      - { provider: openai, model: text-embedding-3-small }
`),
    );
    expect(p.map((x) => x.path)).toEqual(['routes.embed.targets[0].dimensions', 'routes.embed.targets[1].dimensions']);
    expect(p[0]!.message).toMatch(/vllm\/my-embedder's vectors is not known: set dimensions on the target/);
  });

  it('lets a single target, or a route that allows mixed dimensions, be', () => {
    expect(problems(config(`  embed: { kind: embeddings, targets: [{ provider: vllm, model: my-embedder }] }\n`))).toEqual([]);
    const mixed = `  embed:
    kind: embeddings
    allowMixedDimensions: true
    targets:
      - { provider: openai, model: text-embedding-3-large }
      - { provider: local, model: tiny }
      - { provider: vllm, model: unknown-size }
`;
    expect(problems(config(mixed))).toEqual([]);
  });

  it('keeps dimensions and allowMixedDimensions to embeddings routes', () => {
    const p = problems(config(`  chat:\n    targets: [{ provider: openai, model: gpt-4o-mini, dimensions: 3 }]\n`));
    expect(p.map((x) => x.path)).toEqual(['routes.chat.kind']);
    expect(p[0]!.message).toMatch(/only apply to embeddings routes/);
    expect(problems(config(`  chat: { kind: chats, targets: [{ provider: openai, model: gpt-4o-mini }] }\n`)).map((x) => x.path)).toEqual(['routes.chat.kind']);
  });

  it('refuses an embeddings route as a session summariser', () => {
    const p = problems(
      config(`  embed: { kind: embeddings, targets: [{ provider: local, model: tiny }] }
  chat:
    targets: [{ provider: local, model: tiny }]
    sessionSummary: { route: embed, triggerTokens: 1000 }
`),
    );
    expect(p.map((x) => [x.path, x.message])).toEqual([['routes.chat.sessionSummary.route', expect.stringMatching(/serves embeddings/)]]);
  });
});
