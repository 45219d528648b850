/**
 * The running router's admin API as the CLI sees it: where it is (`--url`, LLM_ROUTER_URL), the
 * admin key (LLM_ROUTER_ADMIN_KEY or `--admin-key-file`, never a flag value, so it stays out of
 * shell history and `ps`), and errors sorted into the exit codes (refusal 1, no answer 3).
 */
import { readFileSync } from 'node:fs';
import { isLoopback } from '../cli-args.js';
import type { CliContext } from './cli-context.js';
import { ApiError, UnreachableError, UsageError } from './cli-errors.js';
import { durationOption, type OptionSpec } from './parse-options.js';

export const DEFAULT_ROUTER_URL = 'http://127.0.0.1:8080';
const DEFAULT_TIMEOUT_MS = 15_000;

/** Flags of every command that talks to the admin API. */
export const ADMIN_OPTIONS = {
  url: { type: 'string' },
  'admin-key-file': { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
} as const satisfies OptionSpec;

/** Help lines for ADMIN_OPTIONS, shared by every admin command. */
export const ADMIN_OPTIONS_HELP = `Connection:
  --url URL              the router (default $LLM_ROUTER_URL, else ${DEFAULT_ROUTER_URL})
  --admin-key-file FILE  read the admin key from FILE (default: $LLM_ROUTER_ADMIN_KEY)
  --timeout DURATION     give up waiting for an answer after this long (default 15s)
  --json                 print the router's JSON answer instead of text`;

export interface AdminConnection {
  /** Base URL of the router (its /admin lives below). */
  baseUrl: URL;
  /** Sent as a bearer token; absent: none sent (an operator listener needs none). */
  adminKey?: string;
  timeoutMs: number;
}

/** The connection from flags and environment; a bad URL or an unreadable key file is a usage error. */
export function resolveConnection(values: { url?: string; 'admin-key-file'?: string; timeout?: string }, env: NodeJS.ProcessEnv, command?: string): AdminConnection {
  const text = values.url ?? (env.LLM_ROUTER_URL || DEFAULT_ROUTER_URL);
  let baseUrl: URL;
  try {
    baseUrl = new URL(text);
  } catch {
    throw new UsageError(`--url: not a URL: "${text}"`, command);
  }
  if (baseUrl.protocol !== 'http:' && baseUrl.protocol !== 'https:') throw new UsageError(`--url must be http:// or https:// (got "${baseUrl.protocol}")`, command);
  let adminKey = env.LLM_ROUTER_ADMIN_KEY || undefined;
  const file = values['admin-key-file'];
  if (file !== undefined) {
    let content: string;
    try {
      content = readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(`--admin-key-file: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, command);
    }
    adminKey = content.split(/\r?\n/, 1)[0]!.trim();
    if (!adminKey) throw new UsageError(`--admin-key-file: ${file} is empty`, command);
  }
  const timeoutMs = values.timeout === undefined ? DEFAULT_TIMEOUT_MS : durationOption('timeout', values.timeout, command);
  return { baseUrl, adminKey, timeoutMs };
}

/** The URL as it may be printed: no user:password part. */
export function printableUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`;
}

export interface AdminClient {
  readonly connection: AdminConnection;
  /** GET, the JSON answer. */
  get<T>(path: string, query?: Record<string, string | undefined>): Promise<T>;
  /** GET, the answer as text (CSV). */
  getText(path: string, query?: Record<string, string | undefined>): Promise<string>;
  post<T>(path: string, body?: unknown): Promise<T>;
  delete<T>(path: string): Promise<T>;
}

/** What the router's OpenAI-shaped error body holds, loosely (anything else is just a status). */
function errorFields(text: string): { message?: string; code: string | null; param: string | null } {
  try {
    const e = (JSON.parse(text) as { error?: { message?: unknown; code?: unknown; param?: unknown } }).error;
    return {
      message: typeof e?.message === 'string' ? e.message : undefined,
      code: typeof e?.code === 'string' ? e.code : null,
      param: typeof e?.param === 'string' ? e.param : null,
    };
  } catch {
    return { code: null, param: null };
  }
}

export function createAdminClient(connection: AdminConnection, ctx: Pick<CliContext, 'fetch' | 'stderr'>): AdminClient {
  const { baseUrl, adminKey, timeoutMs } = connection;
  const where = printableUrl(baseUrl);
  if (adminKey && baseUrl.protocol === 'http:' && !isLoopback(baseUrl.hostname.replace(/^\[|\]$/g, ''))) {
    ctx.stderr.write(`llm-router: warning: the admin key goes over plain http to ${baseUrl.host}; use https beyond loopback\n`);
  }

  const request = async (method: string, path: string, opts: { query?: Record<string, string | undefined>; body?: unknown; accept?: string } = {}) => {
    const url = new URL(`${baseUrl.pathname.replace(/\/$/, '')}${path}`, baseUrl);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const headers: Record<string, string> = { accept: opts.accept ?? 'application/json' };
    if (adminKey) headers.authorization = `Bearer ${adminKey}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    // manual: a redirect is reported, never followed with the admin key to another host.
    let status: number;
    let text: string;
    try {
      const res = await ctx.fetch(url, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
      status = res.status;
      text = await res.text();
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      if (e.name === 'TimeoutError' || e.name === 'AbortError') throw new UnreachableError(`the router at ${where} did not answer within ${timeoutMs / 1000}s`);
      throw new UnreachableError(`cannot reach the router at ${where}: ${e.cause?.code ?? e.cause?.message ?? e.message}`);
    }
    if (status < 200 || status > 299) {
      const f = errorFields(text);
      let message = `${status}${f.code ? ` ${f.code}` : ''}: ${f.message ?? (text.trim().slice(0, 200) || 'no error message')}`;
      if (status === 401 && !adminKey) message += ' (no admin key given: set LLM_ROUTER_ADMIN_KEY or use --admin-key-file)';
      throw new ApiError(message, status, f.code, f.param);
    }
    return text;
  };
  const json = <T>(text: string): T => {
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(`the answer from ${where} is not JSON: is --url the router?`, 200, null, null);
    }
  };

  return {
    connection,
    get: async (path, query) => json(await request('GET', path, { query })),
    getText: (path, query) => request('GET', path, { query, accept: 'text/csv' }),
    post: async (path, body) => json(await request('POST', path, { body: body ?? {} })),
    delete: async (path) => json(await request('DELETE', path)),
  };
}
