// Entry of dist/runtime/pool-child.js: shares dist/runtime/index.js with nothing else loaded.
const runtime = require('sprig-runtime') as { runPoolChild(): void };
runtime.runPoolChild();
