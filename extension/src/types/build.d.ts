/** Set by scripts/build.mjs: true in development builds, false in production (test hooks dropped). */
declare const SPRIG_TEST_HOOKS_BUILD: boolean;
