import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfigFile, type LoadedConfig } from './load-config.js';

export interface WatchHandlers {
  /** A valid edit. Return false when it was refused anyway (e.g. it would switch auth off): the same text saved again is then tried (and refused) again. */
  onReload(loaded: LoadedConfig): unknown;
  /** A bad edit: the last good config stays in force. */
  onRejected(err: ConfigError): void;
}

/**
 * Watches the config file (through its folder, so editors that replace the file by rename are
 * seen) and reloads it after edits settle.
 */
/** What a reload compares: an edit that changes neither config nor disabled providers is ignored. */
const fingerprint = (l: LoadedConfig): string => JSON.stringify([l.config, [...l.disabled]]);

export function watchConfig(file: string, handlers: WatchHandlers, debounceMs = 250, current?: LoadedConfig): { close(): void } {
  const dir = path.dirname(path.resolve(file));
  const base = path.basename(file);
  let timer: NodeJS.Timeout | undefined;
  let last = current ? fingerprint(current) : '';
  const reload = () => {
    try {
      const loaded = loadConfigFile(file);
      const fp = fingerprint(loaded);
      if (fp === last) return;
      if (handlers.onReload(loaded) !== false) last = fp;
    } catch (err) {
      if (err instanceof ConfigError) handlers.onRejected(err);
    }
  };
  let watcher: FSWatcher | undefined = watch(dir, (_event, name) => {
    // `..data`: a Kubernetes ConfigMap volume swaps that symlink, never the file itself.
    if (name !== base && name !== '..data') return;
    clearTimeout(timer);
    timer = setTimeout(reload, debounceMs);
  });
  watcher.unref();
  return {
    close() {
      clearTimeout(timer);
      watcher?.close();
      watcher = undefined;
    },
  };
}
