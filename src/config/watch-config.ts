import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfigFile, type LoadedConfig } from './load-config.js';

export interface WatchHandlers {
  onReload(loaded: LoadedConfig): void;
  /** A bad edit: the last good config stays in force. */
  onRejected(err: ConfigError): void;
}

/**
 * Watches the config file (through its folder, so editors that replace the file by rename are
 * seen) and reloads it after edits settle.
 */
export function watchConfig(file: string, handlers: WatchHandlers, debounceMs = 250): { close(): void } {
  const dir = path.dirname(path.resolve(file));
  const base = path.basename(file);
  let timer: NodeJS.Timeout | undefined;
  let last = '';
  const reload = () => {
    try {
      const loaded = loadConfigFile(file);
      const fp = JSON.stringify([loaded.config, [...loaded.disabled]]);
      if (fp === last) return;
      last = fp;
      handlers.onReload(loaded);
    } catch (err) {
      if (err instanceof ConfigError) handlers.onRejected(err);
    }
  };
  try {
    last = JSON.stringify((() => {
      const l = loadConfigFile(file);
      return [l.config, [...l.disabled]];
    })());
  } catch {
    last = '';
  }
  let watcher: FSWatcher | undefined = watch(dir, (_event, name) => {
    if (name !== base) return;
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
