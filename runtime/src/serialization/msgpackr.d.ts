// The no-eval build of msgpackr (no `new Function`, no native addon): same API as the main entry.
declare module 'msgpackr/index-no-eval' {
  export { Packr, Unpackr } from 'msgpackr';
}
