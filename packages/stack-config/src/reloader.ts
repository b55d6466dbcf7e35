import { loadStackFile, type StackConfig, type StackFileOptions } from './stack-config.ts';

export interface StackFileHandlers {
  /**
   * A valid new file was read. Throwing refuses it (say, a change the app cannot apply): the error
   * goes to onError and the old config stays current. Until it returns, current() is the old one.
   */
  onChange(config: StackConfig): void;
  /** The file could not be read, was invalid, or onChange refused it; the old config stays current. */
  onError(err: unknown): void;
}

export interface StackFileReloader {
  current(): StackConfig;
  /** Reads the file again (the apps call it on SIGHUP); true when the new config is now current. */
  reload(): boolean;
}

/**
 * Holds the stack file the app runs with. The first load throws (an invalid file stops the start);
 * later ones never do: a broken edit is reported and the running config kept. The package handles
 * no signals: the app's main.ts calls reload() from its SIGHUP handler.
 */
export function createStackFileReloader(path: string, opts: Omit<StackFileOptions, 'source'>, handlers: StackFileHandlers): StackFileReloader {
  let config = loadStackFile(path, opts);
  return {
    current: () => config,
    reload() {
      try {
        const next = loadStackFile(path, opts);
        handlers.onChange(next);
        config = next;
        return true;
      } catch (err) {
        handlers.onError(err);
        return false;
      }
    },
  };
}
