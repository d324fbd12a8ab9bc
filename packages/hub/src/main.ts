import { runCli } from './cli/run-cli.ts';

const status = await runCli(process.argv.slice(2), process.env);
// A failure may leave a server or timers behind; success ends when the command's work does.
if (status !== 0) process.exit(status);
