/**
 * Child processes of the simulator and the benchmarks: forked with `--import tsx` and the
 * sources' export condition, spoken to over IPC with `{ type, ... }` messages.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** A message of a child process. */
export interface Message {
  readonly type: string;
  readonly [key: string]: unknown;
}

/** Forks `file` (a URL relative to `base`) with tsx; `profileDir` records a V8 CPU profile there. */
export function child(file: string, base: string, args: string[], profileDir?: string): ChildProcess {
  const execArgv = [
    '--conditions=@flotilla/source',
    '--import',
    'tsx',
    ...(profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]),
  ];
  return fork(fileURLToPath(new URL(file, base)), args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

/** The next message of `type` from `proc`; rejects if it exits first. */
export function next(proc: ChildProcess, type: string): Promise<Message> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: Message): void => {
      if (message.type !== type) return;
      proc.off('message', onMessage);
      proc.off('exit', onExit);
      resolve(message);
    };
    const onExit = (code: number | null): void =>
      reject(new Error(`${proc.spawnfile} exited (${code}) before sending ${type}`));
    proc.on('message', onMessage);
    proc.once('exit', onExit);
  });
}

/** Sends `{ type, ...extra }` and waits for the answer of the same type. */
export async function ask(proc: ChildProcess, type: string, extra: Record<string, unknown> = {}): Promise<Message> {
  const answer = next(proc, type);
  proc.send({ type, ...extra });
  return answer;
}

/** Asks each process to stop and waits until all have exited. */
export async function stopAll(procs: readonly ChildProcess[]): Promise<void> {
  for (const p of procs) if (p.connected) p.send({ type: 'stop' });
  await Promise.all(
    procs.filter((p) => p.exitCode === null).map((p) => new Promise((resolve) => p.once('exit', resolve))),
  );
}
