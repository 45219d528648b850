/**
 * What the content filters decided for one request: counts per filter, category, action and
 * direction, never the matched text. Metrics, the usage record and the audit log read this.
 */
export type Direction = 'input' | 'output';
export type FilterType = 'lexicon' | 'pii';

export interface FilterDecision {
  direction: Direction;
  filter: FilterType;
  /** The lexicon category, or the PII kind. */
  category: string;
  /** block | mask | redact | flag. */
  action: string;
  count: number;
}

/** Decisions as the usage record and the audit line keep them: "direction.filter.category.action" → count. */
export function decisionCounts(list: readonly FilterDecision[]): Record<string, number> {
  return Object.fromEntries(list.map((d) => [`${d.direction}.${d.filter}.${d.category}.${d.action}`, d.count]));
}

/** Adds up decisions as a request goes through the filters. */
export class DecisionTally {
  private readonly byKey = new Map<string, FilterDecision>();

  add(direction: Direction, filter: FilterType, category: string, action: string, count = 1): void {
    if (count <= 0) return;
    const key = `${direction}\u0000${filter}\u0000${category}\u0000${action}`;
    const d = this.byKey.get(key);
    if (d) d.count += count;
    else this.byKey.set(key, { direction, filter, category, action, count });
  }

  get size(): number {
    return this.byKey.size;
  }

  list(): FilterDecision[] {
    return [...this.byKey.values()].map((d) => ({ ...d }));
  }
}
