#!/usr/bin/env node
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const index = path.join(__dirname, '..', 'dist', 'runtime', 'index.js');
if (!fs.existsSync(index)) {
  process.stderr.write(`sprig: the runtime is not built (${index} is missing); run \`npm run build\` first\n`);
  process.exit(1);
}
require(index)
  .runCli(process.argv.slice(2))
  .then((code) => {
    if (typeof code === 'number') process.exitCode = code;
  });
