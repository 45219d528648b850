/** Long jobs: background chat completions that survive a restart (see job-runner.ts for the guarantees). */
export * from './job-store.js';
export * from './job-errors.js';
export { jobsSchema, jobWebhookSchema, type JobsConfig, type JobWebhookConfig } from './jobs-schema.js';
export { FileJobStore, type FileJobStoreOptions } from './file-job-store.js';
export { RedisJobStore, type RedisJobStoreOptions } from './redis-job-store.js';
export { createJobRunner, type JobExecuteResult, type JobRunner, type JobRunnerOptions, type JobRunnerStats } from './job-runner.js';
export { JobAbortError, type JobExecute, type JobStopReason } from './job-task.js';
export { createJobWebhook, signWebhookBody, verifyWebhookSignature, webhookUrlRefusal, type JobWebhook, type JobWebhookBody } from './job-webhook.js';
export { createJobsRouter, createJobSubmitHandler, wantsAsync, WEBHOOK_URL_HEADER, type JobsRouterOptions } from './jobs-router.js';
export { jobView, jobCreatedView, type JobView } from './job-view.js';
