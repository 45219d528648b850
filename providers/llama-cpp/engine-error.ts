/** A failure inside a model worker, of a kind the worker reports to the parent (protocol.ts). */
import type { WorkerErrorKind } from './protocol.js';

export class EngineError extends Error {
  constructor(
    readonly kind: WorkerErrorKind,
    message: string,
  ) {
    super(message);
  }
}
