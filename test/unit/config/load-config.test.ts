import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../../src/config/load-config.js';

const base = `providers:
  openai: { kind: openai, apiKeys: ["\${OPENAI_API_KEY}", "\${OPENAI_API_KEY_2}"] }
  local: { kind: llama-cpp, model: tiny }
routes:
  chat:
    targets:
      - { provider: openai, model: gpt-4o-mini }
      - { provider: local, model: tiny }
`;

function problems(text: string) {
  try {
    parseConfig(text, 'router.yaml', {});
  } catch (e) {
    return (e as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('config loading', () => {
  it('resolves ${ENV} references and disables providers whose credentials are unset', () => {
    const off = parseConfig(base, 'router.yaml', {});
    expect(off.disabled.get('openai')).toBe('environment variable OPENAI_API_KEY is not set');
    const on = parseConfig(base, 'router.yaml', { OPENAI_API_KEY_2: 'sk-two' });
    expect(on.disabled.has('openai')).toBe(false);
    const openai = on.config.providers.openai;
    expect(openai?.kind === 'openai' && openai.apiKeys).toEqual(['sk-two']);
  });

  it('supports defaults and typed values from the environment', () => {
    const c = parseConfig(`server: { port: "\${PORT}", host: "\${HOST:-127.0.0.1}" }\n${base}`, 'r.yaml', { PORT: '9001' });
    expect(c.config.server).toMatchObject({ port: 9001, host: '127.0.0.1' });
  });

  it('names file, line and field of every problem', () => {
    const p = problems(base.replace('model: tiny }', 'model: tiny, paralel: 2 }').replace('provider: local, model: tiny', 'provider: lcoal, model: tiny'));
    expect(p.map((x) => `${x.line}:${x.path}`)).toEqual(expect.arrayContaining(['3:providers.local.paralel', '8:routes.chat.targets[1].provider']));
    expect(p.find((x) => x.path.endsWith('provider'))!.message).toContain('unknown provider "lcoal"; expected one of: openai, local');
  });

  it('reports wrong types with what was expected', () => {
    const p = problems(`${base}    retry: { attempts: two }\n`);
    expect(p[0]).toMatchObject({ path: 'routes.chat.retry.attempts', line: 9 });
    expect(p[0]!.message).toMatch(/expected number/);
  });

  it('reports YAML syntax errors with a line', () => {
    const p = problems('routes: { chat: [ }\n');
    expect(p[0]!.line).toBe(1);
    expect(p[0]!.message).toMatch(/YAML syntax/);
  });
});
