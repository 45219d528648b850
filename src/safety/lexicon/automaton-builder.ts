/**
 * Builds the automaton (automaton.ts) term by term, so that a loader can yield between
 * batches, then `finish()` computes failure and dictionary links, renumbers states in depth
 * order and symbols ASCII-first, and lays out the scan tables.
 */
import { MULTI, NONE, SEP_BIT, SYM_MASK, TERM_BOUNDED, TERM_FREE, childOf, hashSlot, type Automaton } from './automaton.js';

/** Entries of the dense table at most (2 MiB of Int32): every state to depth 3 or 4 of 10,000 Latin terms. */
const DENSE_ENTRIES = 1 << 19;

export class AutomatonBuilder {
  private symOf = new Int32Array(0x10000);
  private symCount = 0;
  private rootNext = new Int32Array(0x10001);
  private nodes = 1;
  private parent = new Int32Array(1024);
  private label = new Int32Array(1024);
  private depth = new Uint16Array(1024);
  private head = new Int32Array(1024).fill(-1);
  // Edges below the root while building: open addressing on (state, symbol).
  private hState = new Int32Array(1024);
  private hSym = new Int32Array(1024);
  private hNext = new Int32Array(1024);
  private hShift = 32 - 10;
  private hCount = 0;
  // Entries, as linked lists per state.
  private entList: number[] = [];
  private entExact: (string | null)[] = [];
  private entNext: number[] = [];
  private hasSeparatorKeys = false;

  /**
   * @param listExact per list: 1 when its terms must match verbatim (no separators skipped).
   * @param listBounded per list: 1 when its matches need word boundaries.
   */
  constructor(
    private readonly listExact: Uint8Array,
    private readonly listBounded: Uint8Array,
    separatorUnits: Iterable<number>,
  ) {
    for (const u of separatorUnits) this.symOf[u] = SEP_BIT;
  }

  get entryCount(): number {
    return this.entList.length;
  }

  /** Adds `key` (separator-stripped normalised term, non-empty) for `list`; `exact`: its full form when that differs. */
  add(key: string, list: number, exact: string | null): void {
    let s = 0;
    for (let i = 0; i < key.length; i++) {
      const u = key.charCodeAt(i);
      if (this.symOf[u]! >= SEP_BIT) this.hasSeparatorKeys = true;
      let a = this.symOf[u]! & SYM_MASK;
      if (a === 0) {
        a = ++this.symCount;
        this.symOf[u] = this.symOf[u]! | a;
      }
      let t = s === 0 ? this.rootNext[a]! : this.get(s, a);
      if (t === 0) {
        t = this.newNode(s, a);
        if (s === 0) this.rootNext[a] = t;
        else this.put(s, a, t);
      }
      s = t;
    }
    const isExact = this.listExact[list] === 1;
    for (let e = this.head[s]!; e !== -1; e = this.entNext[e]!) {
      if (this.entList[e] === list && (!isExact || this.entExact[e] === exact)) return; // a duplicate
    }
    this.entList.push(list);
    this.entExact.push(isExact ? exact : null);
    this.entNext.push(this.head[s]!);
    this.head[s] = this.entList.length - 1;
  }

  finish(): Automaton {
    const n = this.nodes;
    const { parent, label, depth, head } = this;

    // Depth order (counting sort): parents and failure targets come before their users.
    let maxDepth = 0;
    for (let v = 0; v < n; v++) if (depth[v]! > maxDepth) maxDepth = depth[v]!;
    const at = new Int32Array(maxDepth + 2);
    for (let v = 0; v < n; v++) at[depth[v]! + 1]!++;
    for (let d = 1; d <= maxDepth + 1; d++) at[d] = at[d]! + at[d - 1]!;
    const order = new Int32Array(n); // new id → old id
    for (let v = 0; v < n; v++) order[at[depth[v]!]!++] = v;
    const id = new Int32Array(n); // old id → new id
    for (let i = 0; i < n; i++) id[order[i]!] = i;

    // Failure links (old ids, on the build hash).
    const failOld = new Int32Array(n);
    for (let i = 1; i < n; i++) {
      const v = order[i]!;
      if (depth[v] === 1) continue;
      const a = label[v]!;
      for (let f = failOld[parent[v]!]!; ; f = failOld[f]!) {
        const t = f === 0 ? this.rootNext[a]! : this.get(f, a);
        if (t !== 0) {
          failOld[v] = t;
          break;
        }
        if (f === 0) break;
      }
    }

    // Symbols renumbered ASCII first: the dense table's columns.
    const perm = new Int32Array(this.symCount + 1);
    let width = 0;
    for (let u = 0; u < 128; u++) {
      const a = this.symOf[u]! & SYM_MASK;
      if (a !== 0) perm[a] = ++width;
    }
    let nextSym = width;
    for (let a = 1; a <= this.symCount; a++) if (perm[a] === 0) perm[a] = ++nextSym;
    const symOf = this.symOf;
    for (let u = 0; u < 0x10000; u++) {
      const a = symOf[u]! & SYM_MASK;
      if (a !== 0) symOf[u] = (symOf[u]! & SEP_BIT) | perm[a]!;
    }

    // Everything per state, in new ids.
    const rootNext = new Int32Array(this.symCount + 1);
    for (let a = 1; a <= this.symCount; a++) rootNext[perm[a]!] = id[this.rootNext[a]!]!;
    const fail = new Int32Array(n);
    const newDepth = new Uint16Array(n);
    const newParent = new Int32Array(n);
    const newLabel = new Int32Array(n);
    for (let i = 1; i < n; i++) {
      const v = order[i]!;
      fail[i] = id[failOld[v]!]!;
      newDepth[i] = depth[v]!;
      newParent[i] = id[parent[v]!]!;
      newLabel[i] = perm[label[v]!]!;
    }

    const outStart = new Int32Array(n + 1);
    const outList = new Int32Array(this.entList.length);
    const outExact = new Array<string | null>(this.entList.length);
    const own = new Uint8Array(n);
    let e = 0;
    for (let i = 0; i < n; i++) {
      outStart[i] = e;
      for (let x = head[order[i]!]!; x !== -1; x = this.entNext[x]!) e++;
      // The list is newest first: fill it backwards, so entries (and tied hits) keep list order.
      let w = e;
      for (let x = head[order[i]!]!; x !== -1; x = this.entNext[x]!) {
        const list = this.entList[x]!;
        outList[--w] = list;
        outExact[w] = this.entExact[x]!;
        own[i] = own[i]! | (this.listBounded[list] === 1 ? TERM_BOUNDED : TERM_FREE);
      }
    }
    outStart[n] = e;
    const dictLink = new Int32Array(n);
    const outFlag = new Uint8Array(n);
    for (let i = 1; i < n; i++) {
      const f = fail[i]!;
      dictLink[i] = own[f] !== 0 ? f : dictLink[f]!;
      outFlag[i] = own[i] !== 0 || dictLink[i] !== 0 ? 1 : 0;
    }
    const below = new Uint8Array(n);
    for (let i = n - 1; i >= 1; i--) {
      const p = newParent[i]!;
      below[p] = below[p]! | below[i]! | own[i]!;
    }

    // Children: inline when single, in the scan hash when several.
    const childCount = new Int32Array(n);
    const edgeSym = new Int32Array(n).fill(NONE);
    const edgeNext = new Int32Array(n);
    for (let i = 1; i < n; i++) {
      const p = newParent[i]!;
      childCount[p]!++;
      edgeSym[p] = newLabel[i]!;
      edgeNext[p] = i;
    }
    let multiEdges = 0;
    for (let i = 1; i < n; i++) if (newParent[i] !== 0 && childCount[newParent[i]!]! > 1) multiEdges++;
    let bits = 4;
    while (1 << bits < multiEdges * 2) bits++;
    const hashState = new Int32Array(1 << bits);
    const hashSym = new Int32Array(1 << bits);
    const hashNext = new Int32Array(1 << bits);
    for (let i = 1; i < n; i++) {
      const p = newParent[i]!;
      if (p === 0 || childCount[p]! < 2) continue;
      edgeSym[p] = MULTI;
      insert(hashState, hashSym, hashNext, 32 - bits, p, newLabel[i]!, i);
    }

    const automaton: Automaton = {
      symOf,
      rootNext,
      edgeSym,
      edgeNext,
      hashState,
      hashSym,
      hashNext,
      hashMask: (1 << bits) - 1,
      hashShift: 32 - bits,
      fail,
      denseWidth: width,
      denseRows: 0,
      dense: new Int32Array(0),
      dictLink,
      outFlag,
      outStart,
      outList,
      outExact,
      depth: newDepth,
      below,
      own,
      stateCount: n,
      entryCount: this.entList.length,
      hasSeparatorKeys: this.hasSeparatorKeys,
    };
    // Dense rows for the shallowest states; a failure target (shallower) has its row already.
    const rows = width === 0 ? 0 : Math.min(n, Math.floor(DENSE_ENTRIES / width));
    const dense = new Int32Array(rows * width);
    for (let s = 0; s < rows; s++) {
      const row = s * width;
      const failRow = fail[s]! * width;
      for (let a = 1; a <= width; a++) {
        const t = childOf(automaton, s, a);
        dense[row + a - 1] = t !== 0 || s === 0 ? t : dense[failRow + a - 1]!;
      }
    }
    return { ...automaton, denseRows: rows, dense };
  }

  private newNode(p: number, a: number): number {
    const t = this.nodes++;
    if (t >= this.parent.length) {
      const size = this.parent.length * 2;
      this.parent = grow(this.parent, new Int32Array(size));
      this.label = grow(this.label, new Int32Array(size));
      this.depth = grow(this.depth, new Uint16Array(size));
      this.head = grow(this.head, new Int32Array(size).fill(-1));
    }
    this.parent[t] = p;
    this.label[t] = a;
    this.depth[t] = this.depth[p]! + 1;
    return t;
  }

  private get(s: number, a: number): number {
    const mask = this.hState.length - 1;
    for (let h = hashSlot(s, a, this.hShift); ; h = (h + 1) & mask) {
      const hs = this.hState[h]!;
      if (hs === 0) return 0;
      if (hs === s && this.hSym[h] === a) return this.hNext[h]!;
    }
  }

  private put(s: number, a: number, t: number): void {
    if ((this.hCount + 1) * 2 > this.hState.length) this.rehash();
    insert(this.hState, this.hSym, this.hNext, this.hShift, s, a, t);
    this.hCount++;
  }

  private rehash(): void {
    const { hState, hSym, hNext } = this;
    const size = hState.length * 2;
    this.hState = new Int32Array(size);
    this.hSym = new Int32Array(size);
    this.hNext = new Int32Array(size);
    this.hShift--;
    for (let h = 0; h < hState.length; h++) {
      if (hState[h] !== 0) insert(this.hState, this.hSym, this.hNext, this.hShift, hState[h]!, hSym[h]!, hNext[h]!);
    }
  }
}

function insert(hState: Int32Array, hSym: Int32Array, hNext: Int32Array, shift: number, s: number, a: number, t: number): void {
  const mask = hState.length - 1;
  let h = hashSlot(s, a, shift);
  while (hState[h] !== 0) h = (h + 1) & mask;
  hState[h] = s;
  hSym[h] = a;
  hNext[h] = t;
}

function grow<T extends Int32Array | Uint16Array>(from: T, to: T): T {
  to.set(from);
  return to;
}
