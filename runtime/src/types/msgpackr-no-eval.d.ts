// msgpackr's no-eval build (no `new Function`) has the same API as the main entry but ships no types.
declare module 'msgpackr/index-no-eval' {
  export { Packr, Unpackr } from 'msgpackr';
}
