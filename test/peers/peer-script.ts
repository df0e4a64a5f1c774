// Running a test peer as its own process (npm start runs them next to the service): flags or
// environment for its ports, a "ready" line, and a clean exit on SIGINT/SIGTERM.

export function argumentValue(args: readonly string[], name: string): string | undefined {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : undefined;
}

export interface RunningPeer {
  /** Printed once the peer listens. */
  readonly ready: string;
  close(): Promise<void>;
}

export function runPeerScript(name: string, start: (args: readonly string[]) => Promise<RunningPeer>): void {
  start(process.argv.slice(2)).then(
    (peer) => {
      console.log(`${name} ready ${peer.ready}`);
      const stop = (): void => {
        peer.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    },
    (error: Error) => {
      console.error(`${name} failed to start: ${error.message}`);
      process.exit(1);
    },
  );
}
