// Entry of dist/runtime/pool-child.js: shares dist/runtime/index.js with nothing else loaded.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const runtime = require('sprig-runtime') as { runPoolChild(): void };
runtime.runPoolChild();
