#!/usr/bin/env node
'use strict';
// `sprig`: the CLI of the sprig-queue package (its code is dist/cli.js, next to the library it uses).
const path = require('node:path');
const fs = require('node:fs');
const cli = path.join(__dirname, '..', 'dist', 'cli.js');
if (!fs.existsSync(cli)) {
  process.stderr.write(`sprig: the runtime is not built (${cli} is missing); run \`npm run build\` in the Sprig repository first\n`);
  process.exit(1);
}
// V8's code cache for the bundle (Node >= 22.1; a no-op before): compiling dist/index.js is the
// largest part of every command's start-up. SPRIG_NO_COMPILE_CACHE=1 turns it off.
const mod = require('node:module');
if (typeof mod.enableCompileCache === 'function' && !process.env.SPRIG_NO_COMPILE_CACHE) {
  try {
    mod.enableCompileCache();
  } catch {
    // an unwritable cache folder: compile as usual
  }
}
require(cli);
