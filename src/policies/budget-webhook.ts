/**
 * What happens when a budget crosses its soft threshold (`softRatio`): a warning in the log, a
 * counter, and, when `budgets.webhookUrl` is set, a JSON POST to it. The POST is
 * fire-and-forget with a 5 s timeout: it never delays or fails a request, and a failure is
 * only logged.
 */
import type { Budget } from '../state/types.js';

/** How long the webhook may take before it is abandoned. */
export const WEBHOOK_TIMEOUT_MS = 5_000;

/** What the limits policy reports (see createLimitsPolicy's onSoftThreshold). */
export interface SoftThreshold {
  /** "key <id>" or "team <name>". */
  owner: string;
  budget: Budget;
  spentUsd: number;
}

/** The JSON body POSTed to `budgets.webhookUrl`. */
export interface BudgetWebhookBody {
  event: 'budget.soft_threshold';
  time: string;
  scope: 'key' | 'team';
  /** Key id or team name. */
  owner: string;
  period: Budget['period'];
  amountUsd: number;
  softRatio: number;
  spentUsd: number;
}

export interface BudgetNotifierDeps {
  /** The webhook in force (config reloads may change it). */
  url: () => string | undefined;
  logger: { warn(obj: object, msg?: string): void };
  counter?: { inc(labels: { scope: string }): void };
  fetch?: typeof fetch;
}

/** The URL without credentials or query (which may hold a token), for logs. */
function shown(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid url)';
  }
}

/** The onSoftThreshold callback of the limits policy. Returns the POST (tests await it); callers need not. */
export function createBudgetNotifier(deps: BudgetNotifierDeps): (info: SoftThreshold) => Promise<void> {
  const doFetch = deps.fetch ?? fetch;
  return async (info) => {
    const scope = info.owner.startsWith('team ') ? 'team' : 'key';
    const owner = info.owner.replace(/^(team|key) /, '');
    deps.counter?.inc({ scope });
    deps.logger.warn({ scope, owner, period: info.budget.period, amountUsd: info.budget.amountUsd, spentUsd: info.spentUsd, softRatio: info.budget.softRatio }, 'budget crossed its soft threshold');
    const url = deps.url();
    if (!url) return;
    const body: BudgetWebhookBody = {
      event: 'budget.soft_threshold',
      time: new Date().toISOString(),
      scope,
      owner,
      period: info.budget.period,
      amountUsd: info.budget.amountUsd,
      softRatio: info.budget.softRatio ?? 1,
      spentUsd: info.spentUsd,
    };
    try {
      const res = await doFetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'llm-router' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
        redirect: 'manual',
      });
      // The body is not read: only whether it was taken.
      await res.body?.cancel().catch(() => {});
      if (!res.ok) deps.logger.warn({ url: shown(url), status: res.status }, 'budget webhook refused the notice');
    } catch (err) {
      deps.logger.warn({ url: shown(url), err: (err as Error).name === 'TimeoutError' ? `no answer within ${WEBHOOK_TIMEOUT_MS} ms` : (err as Error).message }, 'budget webhook failed');
    }
  };
}
