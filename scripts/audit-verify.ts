/** Verifies audit log hash chains: `npm run audit:verify -- FILE|DIR...` (exit 0 intact, 1 broken, 2 usage). */
import { runAuditVerify } from '../src/audit/audit-verify-cli.js';

const code = await runAuditVerify(process.argv.slice(2), {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
});
process.exitCode = code;
