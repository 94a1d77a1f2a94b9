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
require(cli);
