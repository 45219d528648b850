import type { Target } from '../core/provider.js';

/**
 * Order in which a request tries targets. `ordered` keeps the config order (a fallback chain);
 * `weighted` draws the first target by weight and keeps the rest, by weight too, as fallbacks.
 */
export function orderTargets<T extends Target>(strategy: 'ordered' | 'weighted', targets: T[], weight: (t: T) => number, random: () => number): T[] {
  if (strategy === 'ordered' || targets.length < 2) return targets;
  const pool = [...targets];
  const out: T[] = [];
  while (pool.length) {
    const total = pool.reduce((sum, t) => sum + weight(t), 0);
    let pick = pool.length - 1;
    if (total > 0) {
      let r = random() * total;
      pick = pool.findIndex((t) => (r -= weight(t)) < 0);
      if (pick < 0) pick = pool.length - 1;
    }
    out.push(pool.splice(pick, 1)[0]!);
  }
  return out;
}
