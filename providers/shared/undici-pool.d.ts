/** undici's Pool on its own (its index loads fetch, WebSocket and more the router does not use). */
declare module 'undici/lib/dispatcher/pool.js' {
  import type { Pool } from 'undici';
  const PoolImpl: typeof Pool;
  export default PoolImpl;
}
