/** `llm-router loadtest URL`: mixed streamed and non-streamed chat calls against any OpenAI-compatible URL. */
import { readFileSync } from 'node:fs';
import { printableUrl } from '../admin-client.js';
import { printHelp, printJson, printLines, type CliContext } from '../cli-context.js';
import { EXIT, UsageError } from '../cli-errors.js';
import type { Command } from '../command.js';
import { agentFor, callChat, chatCompletionsUrl, type ChatTarget } from '../loadtest/chat-call.js';
import { runLoad, type LoadPlan } from '../loadtest/load-runner.js';
import { describeSummary, summarize } from '../loadtest/load-summary.js';
import { createProgress } from '../loadtest/progress.js';
import { durationOption, HELP_OPTION, intOption, numberOption, parseCommandLine } from '../parse-options.js';

export const MAX_REQUESTS = 100_000;
export const MAX_CONCURRENCY = 1_000;

const HELP = `Usage: llm-router loadtest URL [--requests N] [--concurrency C] [--duration D] [--model M] [...]

Sends chat completions to URL, a mix of streamed and non-streamed, and prints latency p50/p99
(successful calls, whole answer), time to first token p50/p99 (successful streams), errors by
HTTP status or failure, and requests per second. A progress bar on a terminal, a line every 10 %
otherwise. Ctrl-C stops starting calls and prints what was measured.

URL: https://host/v1 or http://127.0.0.1:8080 (…/v1/chat/completions is added), or the full
…/chat/completions URL.

  --requests N         calls in all (default 200, at most ${MAX_REQUESTS})
  --concurrency C      calls in flight (default 8, at most ${MAX_CONCURRENCY})
  --duration D         start no call after D (30s, 5m); whichever of N and D comes first ends it
  --model M            the model (a router's route name; default chat)
  --stream-ratio R     share of streamed calls, 0–1 (default 0.5)
  --max-tokens N       max_tokens of each call (default 16)
  --prompt TEXT        the user message (default "Say hello."; " (request i)" is appended so a
                       response cache does not answer them all)
  --timeout D          per call (default 60s)
  --key-file FILE      the API key, read from FILE (default $LLM_ROUTER_API_KEY, else $OPENAI_API_KEY)
  --key KEY            the API key itself (lands in shell history: prefer the file or the env)
  --max-errors N       failed calls tolerated before the exit code is 1 (default 0)
  --quiet              no progress output
  --json               the summary as JSON

Exit: 0 done with at most --max-errors failures, 1 more failures, 2 usage error, 3 URL unreachable
(no call got any HTTP answer).`;

const OPTIONS = {
  ...HELP_OPTION,
  requests: { type: 'string' },
  concurrency: { type: 'string' },
  duration: { type: 'string' },
  model: { type: 'string' },
  'stream-ratio': { type: 'string' },
  'max-tokens': { type: 'string' },
  prompt: { type: 'string' },
  timeout: { type: 'string' },
  key: { type: 'string' },
  'key-file': { type: 'string' },
  'max-errors': { type: 'string' },
  quiet: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

/** Call i is streamed when it crosses the next multiple of the ratio: exactly round(N·ratio) of N, spread evenly. */
export const isStreamed = (i: number, ratio: number): boolean => Math.floor((i + 1) * ratio) > Math.floor(i * ratio);

/** The API key: --key-file, --key, then the environment; undefined for none. */
function apiKey(values: { key?: string; 'key-file'?: string }, env: NodeJS.ProcessEnv): string | undefined {
  if (values['key-file'] !== undefined && values.key !== undefined) throw new UsageError('give --key or --key-file, not both', 'loadtest');
  if (values['key-file'] !== undefined) {
    try {
      const key = readFileSync(values['key-file'], 'utf8').split(/\r?\n/, 1)[0]!.trim();
      if (!key) throw new UsageError(`--key-file: ${values['key-file']} is empty`, 'loadtest');
      return key;
    } catch (err) {
      if (err instanceof UsageError) throw err;
      throw new UsageError(`--key-file: cannot read ${values['key-file']}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'loadtest');
    }
  }
  return values.key ?? (env.LLM_ROUTER_API_KEY || env.OPENAI_API_KEY || undefined);
}

export const loadtestCommand: Command = {
  name: 'loadtest',
  summary: 'load-test any OpenAI-compatible URL: latency, TTFT, errors, req/s',
  help: HELP,
  async run(argv: string[], ctx: CliContext) {
    const { values, positionals } = parseCommandLine('loadtest', argv, OPTIONS, true);
    if (values.help) return printHelp(ctx, HELP);
    if (positionals.length !== 1) throw new UsageError('loadtest takes one URL', 'loadtest');
    let url: URL;
    try {
      url = chatCompletionsUrl(positionals[0]!);
    } catch {
      throw new UsageError(`not a URL: "${positionals[0]}"`, 'loadtest');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`the URL must be http:// or https:// (got "${url.protocol}")`, 'loadtest');
    const plan: LoadPlan = {
      requests: values.requests === undefined ? 200 : intOption('requests', values.requests, 1, MAX_REQUESTS, 'loadtest'),
      concurrency: values.concurrency === undefined ? 8 : intOption('concurrency', values.concurrency, 1, MAX_CONCURRENCY, 'loadtest'),
      durationMs: values.duration === undefined ? undefined : durationOption('duration', values.duration, 'loadtest'),
    };
    const model = values.model ?? 'chat';
    const ratio = values['stream-ratio'] === undefined ? 0.5 : numberOption('stream-ratio', values['stream-ratio'], 0, 1, 'loadtest');
    const maxTokens = values['max-tokens'] === undefined ? 16 : intOption('max-tokens', values['max-tokens'], 1, 1_000_000, 'loadtest');
    const maxErrors = values['max-errors'] === undefined ? 0 : intOption('max-errors', values['max-errors'], 0, MAX_REQUESTS, 'loadtest');
    const prompt = values.prompt ?? 'Say hello.';
    const key = apiKey(values, ctx.env);

    const target: ChatTarget = {
      url,
      agent: agentFor(url, plan.concurrency),
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'user-agent': 'llm-router-loadtest', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      timeoutMs: values.timeout === undefined ? 60_000 : durationOption('timeout', values.timeout, 'loadtest'),
    };
    const body = (i: number, stream: boolean) => JSON.stringify({ model, messages: [{ role: 'user', content: `${prompt} (request ${i})` }], max_tokens: maxTokens, ...(stream ? { stream: true } : {}) });
    const progress = createProgress(ctx.stderr, { total: plan.requests, durationMs: plan.durationMs, plain: !ctx.stderr.isTTY, quiet: values.quiet || (values.json && !ctx.stderr.isTTY) });
    const stop = new AbortController();
    const onSigint = () => stop.abort();
    process.once('SIGINT', onSigint);
    let run;
    try {
      run = await runLoad(plan, (i) => callChat(target, body(i, isStreamed(i, ratio)), isStreamed(i, ratio)), { signal: stop.signal, onProgress: (p) => progress.update(p) });
    } finally {
      process.off('SIGINT', onSigint);
      progress.finish();
      target.agent.destroy();
    }
    const summary = summarize(run, { url: printableUrl(url), model, concurrency: plan.concurrency });
    if (values.json) printJson(ctx, summary);
    else printLines(ctx, describeSummary(summary));
    if (summary.unreachable) {
      ctx.stderr.write(`llm-router: cannot reach ${printableUrl(url)}: ${Object.keys(summary.errors).join(', ')}\n`);
      return EXIT.unreachable;
    }
    return summary.failed > maxErrors ? EXIT.failed : EXIT.ok;
  },
};
