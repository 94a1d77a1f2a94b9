// Entry of dist/cli.js (the `sprig` command): runs the CLI of the library bundle next to it.
const runtime = require('sprig-runtime') as { runCli(argv: string[]): Promise<number | void> };
void runtime.runCli(process.argv.slice(2)).then((code) => {
  if (typeof code === 'number') process.exitCode = code;
});
