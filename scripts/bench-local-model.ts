/**
 * Local model throughput through the router against node-llama-cpp called directly, on the
 * same GGUF, threads and request (run by hand, not a test):
 *   npm run bench:local [-- --mode text|json --runs 20 --max-tokens 1024]
 * Both sides get the same request at temperature 0.8 with the same seeds: plain text (the tiny
 * model's answers are a sentence or a few), or with --mode json the same grammar-constrained
 * JSON (one string, which the tiny model never closes by itself: every answer runs to the budget). Reported: median time to
 * first token, and tokens/s over the time from first token to last.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { LlamaChat, getLlama, type Token } from 'node-llama-cpp';
import { ensureTinyModel } from '../models/gguf/ensure-tiny-model.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '20' }, 'max-tokens': { type: 'string', default: '1024' }, mode: { type: 'string', default: 'text' } } });
/** text: plain answers (the common path); json: a long grammar-constrained JSON answer. */
const json = values.mode === 'json';
const runs = Number(values.runs);
const maxTokens = Number(values['max-tokens']);
const prompt = 'Tell me about the weather and the router.';
// One required string: the tiny model never closes a string by itself, so both sides write
// until the budget (the router's answer closes in its last tokens: the JSON landing).
const SCHEMA = { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } as const;

interface Run {
  ttftMs: number;
  tokens: number;
  /** From first token to last. */
  genMs: number;
}

function summarize(name: string, rs: Run[]): { tps: number; ttft: number } {
  const ttft = rs.map((r) => r.ttftMs).sort((a, b) => a - b)[Math.floor(rs.length / 2)]!;
  const tokens = rs.reduce((n, r) => n + r.tokens, 0);
  const ms = rs.reduce((n, r) => n + r.genMs, 0);
  const tps = (tokens / ms) * 1000;
  console.log(`${name.padEnd(8)} | median TTFT ${ttft.toFixed(2)} ms | ${tps.toFixed(0)} tokens/s | ${tokens} tokens over ${rs.length} runs`);
  return { tps, ttft };
}

async function direct(modelPath: string): Promise<Run[]> {
  const llama = await getLlama({ gpu: false, build: 'never' });
  const model = await llama.loadModel({ modelPath });
  const context = await model.createContext({ contextSize: 2048, threads: 1, sequences: 1 });
  const grammar = await llama.createGrammarForJsonSchema(SCHEMA as Parameters<typeof llama.createGrammarForJsonSchema>[0]);
  const out: Run[] = [];
  for (let i = 0; i < runs + 2; i++) {
    const sequence = context.getSequence();
    const chat = new LlamaChat({ contextSequence: sequence });
    const t0 = performance.now();
    let first = 0;
    let tokens = 0;
    await chat.generateResponse([{ type: 'user', text: prompt }, { type: 'model', response: [] }], {
      ...(json ? { grammar } : {}),
      maxTokens,
      temperature: 0.8,
      seed: i,
      onToken: (t: Token[]) => {
        if (!first) first = performance.now();
        tokens += t.length;
      },
    });
    const end = performance.now();
    chat.dispose({ disposeSequence: true });
    if (i >= 2) out.push({ ttftMs: first - t0, tokens, genMs: end - first });
  }
  await context.dispose();
  await model.dispose();
  return out;
}

async function viaRouter(): Promise<Run[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'router-bench-local-'));
  const config = path.join(dir, 'router.yaml');
  writeFileSync(config, 'providers:\n  local: { kind: llama-cpp, model: tiny, loadAtStart: true }\nroutes:\n  local: { targets: [{ provider: local, model: tiny }] }\nlogging: { level: warn }\n');
  const port = 19000 + Math.floor(Math.random() * 500);
  const router = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', config, '--port', String(port)], { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    for (let i = 0; i < 100; i++) {
      if (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const out: Run[] = [];
    for (let i = 0; i < runs + 2; i++) {
      const t0 = performance.now();
      const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'local', stream: true, stream_options: { include_usage: true }, max_tokens: maxTokens, temperature: 0.8, seed: i, ...(json ? { response_format: { type: 'json_schema', json_schema: { name: 'long', schema: SCHEMA } } } : {}), messages: [{ role: 'user', content: prompt }] }),
      });
      if (!res.ok) throw new Error(`router answered ${res.status}: ${await res.text()}`);
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let first = 0;
      let text = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (!first) first = performance.now();
        text += decoder.decode(value, { stream: true });
      }
      const end = performance.now();
      const usage = /"completion_tokens":(\d+)/.exec(text);
      if (i >= 2) out.push({ ttftMs: first - t0, tokens: Number(usage?.[1] ?? 0), genMs: end - first });
    }
    return out;
  } finally {
    router.kill('SIGTERM');
  }
}

async function main(): Promise<void> {
  const modelPath = await ensureTinyModel(path.resolve('models/tiny.gguf'));
  console.log(`\nLocal model benchmark: ${path.basename(modelPath)}, 1 thread, ${runs} runs, max_tokens ${maxTokens}, ${json ? 'JSON grammar' : 'plain text'}\n`);
  const d = summarize('direct', await direct(modelPath));
  const r = summarize('router', await viaRouter());
  console.log(`\nrouter throughput = ${((r.tps / d.tps) * 100).toFixed(1)}% of direct; TTFT added ${(r.ttft - d.ttft).toFixed(2)} ms (includes HTTP and SSE)`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
