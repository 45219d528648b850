/** Writes config/router.schema.json (for editors) from the zod schema, the source of truth. */
import { writeFileSync } from 'node:fs';
import { z } from 'zod';
import { configSchema } from '../src/config/schema.js';

const out = process.argv[2] ?? 'config/router.schema.json';
const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' });
writeFileSync(out, `${JSON.stringify({ ...schema, title: 'llm-router config' }, null, 2)}\n`);
console.log(`wrote ${out}`);
