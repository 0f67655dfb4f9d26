/**
 * A process that takes a claim for the claim tests: node --import tsx holder-process.ts PREFIX START_MS STALE_S
 * waits until START_MS (so that several start together), tries the claim once, prints "held" or
 * "busy", and while it holds prints "lost" when another process takes the claim over. It holds
 * until it is killed.
 */
import { tryClaim } from '../../src/claim/claim.ts';

const [prefix, start, stale] = process.argv.slice(2);
const staleAfterSeconds = Number(stale);
await new Promise((done) => setTimeout(done, Math.max(0, Number(start) - Date.now())));
const claim = tryClaim(prefix!, { label: 'test holder', liveness: { staleAfterSeconds, heartbeatSeconds: staleAfterSeconds / 5 } });
console.log(claim ? 'held' : 'busy');
if (!claim) process.exit(0);
const watch = setInterval(() => {
  if (claim.lost()) { console.log('lost'); clearInterval(watch); }
}, 50);
setInterval(() => {}, 1 << 30);
