import { pino, type Logger } from 'pino';

/** JSON logs; credentials are redacted wherever they might appear. */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { service: 'llm-router' },
    redact: {
      paths: ['*.authorization', '*.Authorization', '*["api-key"]', '*.apiKey', '*.apiKeys', '*.adToken', 'headers.authorization', 'req.headers.authorization'],
      censor: '[redacted]',
    },
  });
}
