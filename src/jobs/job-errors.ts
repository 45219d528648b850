/** Refusals of the jobs module, each with what the HTTP edge needs to answer in OpenAI's error shape. */

/** `maxQueued` jobs already wait (per instance with files, across instances with Redis). */
export class JobQueueFullError extends Error {
  readonly status = 429;
  readonly code = 'job_queue_full';
  constructor(readonly maxQueued: number) {
    super(`The job queue is full (${maxQueued} jobs waiting); retry later.`);
    this.name = 'JobQueueFullError';
  }
}

/** The request body of a job is over `maxRequestBytes` (jobs are stored whole until they run). */
export class JobRequestTooLargeError extends Error {
  readonly status = 413;
  readonly code = 'request_too_large';
  constructor(readonly maxBytes: number) {
    super(`The job request is too large: the limit is ${maxBytes} bytes.`);
    this.name = 'JobRequestTooLargeError';
  }
}

/** A webhook URL that is not under one of the operator's allowed prefixes (or webhooks are off). */
export class JobWebhookNotAllowedError extends Error {
  readonly status = 400;
  readonly code = 'webhook_not_allowed';
  constructor(reason: string) {
    super(`The webhook URL is not allowed: ${reason}.`);
    this.name = 'JobWebhookNotAllowedError';
  }
}

/** Another live router process holds `<dataDir>/jobs/.lock`: the file store is single-instance. */
export class JobStoreLockedError extends Error {
  constructor(
    readonly lockFile: string,
    holder: string,
  ) {
    super(
      `the jobs folder is in use by another router process (${holder}; lock ${lockFile}). ` +
        'The file job store serves one process: give each instance its own dataDir, or use state.backend redis to share jobs.',
    );
    this.name = 'JobStoreLockedError';
  }
}

/** The runner is closed or not started: no new jobs. */
export class JobRunnerClosedError extends Error {
  readonly status = 503;
  readonly code = 'jobs_unavailable';
  constructor() {
    super('The job runner is shutting down; retry shortly.');
    this.name = 'JobRunnerClosedError';
  }
}
