import { readFile } from 'node:fs/promises';

import { holdsLiveSecret, parseKeyRecord } from '../key-record.js';
import { silentLogger, type StateLogger } from '../state-logger.js';
import type { KeyRecord, KeyStore } from '../types.js';
import { writeFileAtomic } from './atomic-file.js';

/** On-disk layout of the keys file; `version` lets a later router migrate it. */
interface KeysFile {
  version: 1;
  keys: KeyRecord[];
}

/** Raised when the keys file exists but cannot be read as keys: the store refuses to start. */
export class KeysFileError extends Error {
  constructor(file: string, reason: string, options?: { cause?: unknown }) {
    super(
      `keys file ${file} is unreadable (${reason}); the router will not start over it, so the keys in it are not lost. ` +
        'Repair the file, or move it away to start with no API-created keys.',
      options,
    );
    this.name = 'KeysFileError';
  }
}

/**
 * Virtual keys of one process: a Map, with every record persisted to one JSON file
 * (`<dataDir>/keys.json`, hashes only, never a secret), rewritten atomically on each put.
 * Puts are serialized, so the file always holds a state the Map has been in.
 */
export class FileKeyStore implements KeyStore {
  private readonly byId = new Map<string, KeyRecord>();
  private readonly idByHash = new Map<string, string>();
  private readonly listeners = new Set<(id: string) => void>();
  /** The tail of the write chain: each put runs after the previous one finished. */
  private writing: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly file: string,
    private readonly now: () => number,
    private readonly logger: StateLogger,
  ) {}

  /** Loads the file (absent: no keys yet) and returns the store; a corrupt file throws `KeysFileError`. */
  static async open(file: string, options: { now?: () => number; logger?: StateLogger } = {}): Promise<FileKeyStore> {
    const store = new FileKeyStore(file, options.now ?? Date.now, options.logger ?? silentLogger);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return store;
      throw new KeysFileError(file, (err as Error).message, { cause: err });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new KeysFileError(file, `not JSON: ${(err as Error).message}`, { cause: err });
    }
    if (typeof parsed !== 'object' || parsed === null || (parsed as KeysFile).version !== 1 || !Array.isArray((parsed as KeysFile).keys)) {
      throw new KeysFileError(file, 'expected {"version": 1, "keys": [...]}');
    }
    (parsed as KeysFile).keys.forEach((raw, i) => {
      let record: KeyRecord;
      try {
        record = parseKeyRecord(raw);
      } catch (err) {
        throw new KeysFileError(file, `record ${i}: ${(err as Error).message}`, { cause: err });
      }
      store.index(record);
    });
    return store;
  }

  async get(id: string): Promise<KeyRecord | undefined> {
    return structuredClone(this.byId.get(id));
  }

  async findByHash(hash: string): Promise<KeyRecord | undefined> {
    const id = this.idByHash.get(hash);
    const record = id === undefined ? undefined : this.byId.get(id);
    return record && holdsLiveSecret(record, hash, this.now()) ? structuredClone(record) : undefined;
  }

  async list(): Promise<KeyRecord[]> {
    return [...this.byId.values()].map((r) => structuredClone(r));
  }

  async put(record: KeyRecord): Promise<void> {
    if (this.closed) throw new Error('key store is closed');
    const copy = structuredClone(record);
    // Readers see the record only once the disk holds it; a failed write changes nothing.
    const run = this.writing.then(async () => {
      const snapshot = new Map(this.byId).set(copy.id, copy);
      await writeFileAtomic(this.file, serialize([...snapshot.values()]));
      this.index(copy);
    });
    this.writing = run.catch(() => undefined);
    await run;
    // The put succeeded whatever a listener does: a throwing cache must not fail the write.
    for (const listener of this.listeners) {
      try {
        listener(copy.id);
      } catch (err) {
        this.logger.error({ err, id: copy.id }, 'key change listener threw');
      }
    }
  }

  onChange(listener: (id: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.writing;
    this.listeners.clear();
  }

  private index(record: KeyRecord): void {
    const previous = this.byId.get(record.id);
    if (previous) this.unindex(previous);
    this.byId.set(record.id, record);
    for (const s of record.secrets) this.idByHash.set(s.hash, record.id);
  }

  private unindex(record: KeyRecord): void {
    this.byId.delete(record.id);
    for (const s of record.secrets) if (this.idByHash.get(s.hash) === record.id) this.idByHash.delete(s.hash);
  }
}

function serialize(keys: KeyRecord[]): string {
  const body: KeysFile = { version: 1, keys };
  return `${JSON.stringify(body, null, 2)}\n`;
}
