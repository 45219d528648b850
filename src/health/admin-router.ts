import express, { type Response } from 'express';
import { wireError } from '../edge/http-errors.js';
import type { AdminResult, HealthGate } from './health-gate.js';

/** The gate itself, or a getter for the one in force (the gate is rebuilt on every config reload). */
export type GateSource = HealthGate | (() => HealthGate | undefined);

const REASON_MAX = 200;

/**
 * Failover controls, mounted by the app under /admin (behind admin keys and express.json):
 *
 *   GET  /targets                            every target: state, breaker window, probes, probation, shadows
 *   GET  /targets/:provider/:model           one target
 *   POST /targets/:provider/:model/drain     hold: no live traffic, no probes (body: {"reason"?: string})
 *   POST /targets/:provider/:model/release   drained → open: probes resume, probation follows
 *   POST /targets/:provider/:model/restore   → healthy now, with a clean breaker window
 *
 * With shared health (state.backend redis) every answer shows the fleet's record too (`fleet`:
 * its state, version, `changedBy`, `changedAt`, each live instance's local state), read from
 * Redis when asked; an action on any instance applies to the whole fleet, and its answer comes
 * once this instance's write went out (or failed: then it holds here alone until Redis is back).
 *
 * Model names may contain "/" (e.g. "meta-llama/Llama-3.1-8B"): send them URL-encoded as one
 * segment (`meta-llama%2FLlama-3.1-8B`); Express decodes the parameter. Provider ids cannot
 * contain "/" (the config forbids it). Errors use the OpenAI error body like every other answer.
 */
export function createAdminRouter(source: GateSource): express.Router {
  const gateOf = typeof source === 'function' ? source : () => source;
  const router = express.Router();

  /** Brings the fleet's view in (a no-op without a fleet); a failure leaves the local view, never an error. */
  const refreshed = async (gate: HealthGate) => {
    try {
      await gate.refresh();
    } catch {
      // The fleet layer counts and logs its own Redis failures.
    }
  };
  /** After an action: the target as it stands once the fleet has heard of it. */
  const after = async (res: Response, gate: HealthGate, r: AdminResult) => {
    if (!r.ok) return send(res, r);
    await refreshed(gate);
    send(res, { ok: true, target: gate.target(r.target.provider, r.target.model) ?? r.target });
  };
  const send = (res: Response, r: AdminResult) => {
    if (r.ok) return void res.json(r.target);
    const e = wireError(r.code === 'target_not_found' ? 404 : 409, r.message, 'invalid_request_error', null, r.code);
    res.status(e.status).json(e.body);
  };
  const disabled = (res: Response) => {
    const e = wireError(404, 'Health checks are not enabled, so there are no targets to manage.', 'invalid_request_error', null, 'target_not_found');
    res.status(e.status).json(e.body);
  };

  router.get('/targets', async (_req, res) => {
    const gate = gateOf();
    if (gate) await refreshed(gate);
    const fleet = gate?.fleet();
    res.json({ object: 'list', data: gate?.targets() ?? [], ...(fleet ? { fleet } : {}) });
  });

  router.get('/targets/:provider/:model', async (req, res) => {
    const gate = gateOf();
    if (!gate) return disabled(res);
    await refreshed(gate);
    const view = gate.target(req.params.provider, req.params.model);
    send(res, view ? { ok: true, target: view } : { ok: false, code: 'target_not_found', message: `No target '${req.params.provider}/${req.params.model}' is configured on an enabled provider.` });
  });

  router.post('/targets/:provider/:model/drain', async (req, res) => {
    const gate = gateOf();
    if (!gate) return disabled(res);
    const raw: unknown = (req.body as { reason?: unknown } | undefined)?.reason;
    if (raw !== undefined && typeof raw !== 'string') {
      const e = wireError(400, 'reason must be a string.', 'invalid_request_error', 'reason', 'invalid_value');
      return void res.status(e.status).json(e.body);
    }
    const by = typeof res.locals.apiKeyId === 'string' ? res.locals.apiKeyId : undefined;
    await after(res, gate, gate.drain(req.params.provider, req.params.model, { by, reason: raw?.slice(0, REASON_MAX) }));
  });

  router.post('/targets/:provider/:model/release', async (req, res) => {
    const gate = gateOf();
    if (!gate) return disabled(res);
    await after(res, gate, gate.release(req.params.provider, req.params.model));
  });

  router.post('/targets/:provider/:model/restore', async (req, res) => {
    const gate = gateOf();
    if (!gate) return disabled(res);
    await after(res, gate, gate.restore(req.params.provider, req.params.model));
  });

  return router;
}
