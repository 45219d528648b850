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
 * Model names may contain "/" (e.g. "meta-llama/Llama-3.1-8B"): send them URL-encoded as one
 * segment (`meta-llama%2FLlama-3.1-8B`); Express decodes the parameter. Provider ids cannot
 * contain "/" (the config forbids it). Errors use the OpenAI error body like every other answer.
 */
export function createAdminRouter(source: GateSource): express.Router {
  const gateOf = typeof source === 'function' ? source : () => source;
  const router = express.Router();

  const send = (res: Response, r: AdminResult) => {
    if (r.ok) return void res.json(r.target);
    const e = wireError(r.code === 'target_not_found' ? 404 : 409, r.message, 'invalid_request_error', null, r.code);
    res.status(e.status).json(e.body);
  };
  const disabled = (res: Response) => {
    const e = wireError(404, 'Health checks are not enabled, so there are no targets to manage.', 'invalid_request_error', null, 'target_not_found');
    res.status(e.status).json(e.body);
  };

  router.get('/targets', (_req, res) => {
    res.json({ object: 'list', data: gateOf()?.targets() ?? [] });
  });

  router.get('/targets/:provider/:model', (req, res) => {
    const gate = gateOf();
    if (!gate) return disabled(res);
    const view = gate.target(req.params.provider, req.params.model);
    send(res, view ? { ok: true, target: view } : { ok: false, code: 'target_not_found', message: `No target '${req.params.provider}/${req.params.model}' is configured on an enabled provider.` });
  });

  router.post('/targets/:provider/:model/drain', (req, res) => {
    const gate = gateOf();
    if (!gate) return disabled(res);
    const raw: unknown = (req.body as { reason?: unknown } | undefined)?.reason;
    if (raw !== undefined && typeof raw !== 'string') {
      const e = wireError(400, 'reason must be a string.', 'invalid_request_error', 'reason', 'invalid_value');
      return void res.status(e.status).json(e.body);
    }
    const by = typeof res.locals.apiKeyId === 'string' ? res.locals.apiKeyId : undefined;
    send(res, gate.drain(req.params.provider, req.params.model, { by, reason: raw?.slice(0, REASON_MAX) }));
  });

  router.post('/targets/:provider/:model/release', (req, res) => {
    const gate = gateOf();
    if (!gate) return disabled(res);
    send(res, gate.release(req.params.provider, req.params.model));
  });

  router.post('/targets/:provider/:model/restore', (req, res) => {
    const gate = gateOf();
    if (!gate) return disabled(res);
    send(res, gate.restore(req.params.provider, req.params.model));
  });

  return router;
}
